package searchparam

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/fhirpath"
)

var (
	negInf = math.Inf(-1)
	posInf = math.Inf(1)
)

// dateEntries: a date, dateTime or instant, a Period or a Timing.
func dateEntries(out []fhir.IndexEntry, code string, n fhirpath.Node) []fhir.IndexEntry {
	var lo, hi float64
	var ok bool
	switch v := n.Value.(type) {
	case string:
		lo, hi, ok = dateRange(v)
	case map[string]any:
		_, hasEvent := v["event"]
		_, hasRepeat := v["repeat"]
		if n.Type == "Timing" || hasEvent || hasRepeat {
			lo, hi, ok = timingRange(v)
		} else {
			lo, hi, ok = periodRange(v)
		}
	}
	if !ok {
		return out
	}
	return append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeDate, Low: lo, High: hi})
}

// dateRange is the range of a date, dateTime or instant in Unix
// milliseconds: the start rounded down, the end rounded up.
func dateRange(s string) (lo, hi float64, ok bool) {
	start, end, err := fhir.ParseDateRange(s)
	if err != nil {
		return 0, 0, false
	}
	h := end.UnixMilli()
	if end.Nanosecond()%int(time.Millisecond) != 0 {
		h++
	}
	return float64(start.UnixMilli()), float64(h), true
}

// periodRange covers start..end; a missing start is -Inf, a missing end
// +Inf; a Period with neither (or a bad date) gives nothing.
func periodRange(v map[string]any) (lo, hi float64, ok bool) {
	start, _ := v["start"].(string)
	end, _ := v["end"].(string)
	if start == "" && end == "" {
		return 0, 0, false
	}
	lo, hi = negInf, posInf
	if start != "" {
		if lo, _, ok = dateRange(start); !ok {
			return 0, 0, false
		}
	}
	if end != "" {
		if _, hi, ok = dateRange(end); !ok {
			return 0, 0, false
		}
	}
	return lo, hi, true
}

// timingRange covers the earliest to the latest event and the
// repeat.boundsPeriod.
func timingRange(v map[string]any) (lo, hi float64, ok bool) {
	lo, hi = posInf, negInf
	widen := func(l, h float64) {
		lo, hi, ok = min(lo, l), max(hi, h), true
	}
	if events, isList := v["event"].([]any); isList {
		for _, e := range events {
			if s, isStr := e.(string); isStr {
				if l, h, good := dateRange(s); good {
					widen(l, h)
				}
			}
		}
	}
	if repeat, isMap := v["repeat"].(map[string]any); isMap {
		if bounds, isMap := repeat["boundsPeriod"].(map[string]any); isMap {
			if l, h, good := periodRange(bounds); good {
				widen(l, h)
			}
		}
	}
	return lo, hi, ok
}

// numberEntries: a decimal or integer, a Quantity's value, or a Range.
func numberEntries(out []fhir.IndexEntry, code string, n fhirpath.Node) []fhir.IndexEntry {
	switch v := n.Value.(type) {
	case json.Number:
		if lo, hi, ok := decimalRange(string(v)); ok {
			out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeNumber, Code: string(v), Low: lo, High: hi})
		}
	case map[string]any:
		if isRange(n, v) {
			if lo, hi, _, ok := rangeOf(v); ok {
				out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeNumber, Low: lo, High: hi})
			}
		} else if num, ok := v["value"].(json.Number); ok {
			if lo, hi, ok := decimalRange(string(num)); ok {
				out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeNumber, Code: string(num), Low: lo, High: hi})
			}
		}
	}
	return out
}

// quantityEntries: a Quantity (or Age, Duration, Count, Distance,
// SimpleQuantity), Money, a Range, or a bare number.
func quantityEntries(out []fhir.IndexEntry, code string, n fhirpath.Node) []fhir.IndexEntry {
	switch v := n.Value.(type) {
	case json.Number:
		if lo, hi, ok := decimalRange(string(v)); ok {
			out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeQuantity, Low: lo, High: hi})
		}
	case map[string]any:
		if n.Type == "SampledData" {
			return out
		}
		if isRange(n, v) {
			if lo, hi, unit, ok := rangeOf(v); ok {
				system, c := unitOf(unit)
				out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeQuantity, System: system, Code: c, Low: lo, High: hi})
			}
			return out
		}
		lo, hi, ok := quantityRange(v)
		if !ok {
			return out
		}
		system, c := unitOf(v)
		out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeQuantity, System: system, Code: c, Low: lo, High: hi})
	}
	return out
}

func isRange(n fhirpath.Node, v map[string]any) bool {
	if n.Type == "Range" {
		return true
	}
	_, low := v["low"]
	_, high := v["high"]
	return low || high
}

// rangeOf covers a Range's low..high, an open end being infinite, and
// returns the Quantity whose unit the range carries (low's, else high's).
func rangeOf(v map[string]any) (lo, hi float64, unit map[string]any, ok bool) {
	low, _ := v["low"].(map[string]any)
	high, _ := v["high"].(map[string]any)
	lo, hi = negInf, posInf
	if num, isNum := low["value"].(json.Number); isNum {
		if lo, _, ok = decimalRange(string(num)); !ok {
			return 0, 0, nil, false
		}
		unit = low
	}
	if num, isNum := high["value"].(json.Number); isNum {
		var good bool
		if _, hi, good = decimalRange(string(num)); !good {
			return 0, 0, nil, false
		}
		if unit == nil {
			unit = high
		}
		ok = true
	}
	return lo, hi, unit, ok
}

// quantityRange is the range of a Quantity's value, opened on one side by
// its comparator.
func quantityRange(v map[string]any) (lo, hi float64, ok bool) {
	num, isNum := v["value"].(json.Number)
	if !isNum {
		return 0, 0, false
	}
	if lo, hi, ok = decimalRange(string(num)); !ok {
		return 0, 0, false
	}
	switch v["comparator"] {
	case "<", "<=":
		lo = negInf
	case ">", ">=":
		hi = posInf
	}
	return lo, hi, true
}

// unitOf is the system and code of a quantity's unit: its code and system,
// else its unit text with no system; Money's currency under ISO 4217.
func unitOf(v map[string]any) (system, code string) {
	if currency, _ := v["currency"].(string); currency != "" {
		return "urn:iso:std:iso:4217", currency
	}
	if c, _ := v["code"].(string); c != "" {
		system, _ = v["system"].(string)
		return system, c
	}
	unit, _ := v["unit"].(string)
	return "", unit
}

// decimalRange is the range a decimal stands for by its precision: half a
// unit of its last digit either side (100 covers [99.5, 100.5), 1.5
// [1.45, 1.55), 1e2 [50, 150)). It computes the bounds as the query parser
// does, so that equal text gives equal floats.
func decimalRange(s string) (lo, hi float64, ok bool) {
	neg := false
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	if intPart == "" {
		return 0, 0, false
	}
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fs:i]
		if frac == "" {
			return 0, 0, false
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 9999 || e < -9999 {
			return 0, 0, false
		}
		exp = e
		i = len(s)
	}
	if i != len(s) {
		return 0, 0, false
	}
	scale := "e" + strconv.Itoa(exp-len(frac)-1)
	var below, above string
	if digits := len(intPart) + len(frac) + 1; digits <= 18 {
		d, _ := strconv.ParseInt(intPart+frac, 10, 64)
		d *= 10
		below, above = strconv.FormatInt(d-5, 10), strconv.FormatInt(d+5, 10)
	} else {
		d, _ := new(big.Int).SetString(intPart+frac+"0", 10)
		five := big.NewInt(5)
		below = new(big.Int).Sub(d, five).String()
		above = new(big.Int).Add(d, five).String()
	}
	var err error
	if lo, err = strconv.ParseFloat(below+scale, 64); err != nil {
		return 0, 0, false
	}
	if hi, err = strconv.ParseFloat(above+scale, 64); err != nil {
		return 0, 0, false
	}
	if neg {
		lo, hi = -hi, -lo
	}
	if lo == hi {
		// More digits than a float64 holds: the narrowest range around it.
		lo, hi = math.Nextafter(lo, negInf), math.Nextafter(hi, posInf)
	}
	return lo, hi, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
