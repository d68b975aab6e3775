package fhir

import (
	"regexp"
	"time"
)

var dateTimePattern = regexp.MustCompile(`^(\d{4})(-(\d{2})(-(\d{2})(T(\d{2}):(\d{2})(:(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// ParseDateRange reads a FHIR date, dateTime or instant of any precision
// and returns the range it stands for: [start, end). "2024" is the whole
// year, "2024-03-05T10:00:00Z" one second. A value without a time zone is
// read as UTC.
func ParseDateRange(s string) (start, end time.Time, err error) {
	m := dateTimePattern.FindStringSubmatch(s)
	bad := Errorf(CodeInvalid, "not a valid FHIR date or dateTime")
	if m == nil {
		return start, end, bad
	}
	switch {
	case m[6] != "": // time present
		if m[12] == "" && m[7] != "" {
			// A dateTime with hours must carry a zone; accept it as UTC.
			s += "Z"
		}
		layout := "2006-01-02T15:04Z07:00"
		step := time.Minute
		if m[9] != "" {
			layout = "2006-01-02T15:04:05Z07:00"
			step = time.Second
			if m[11] != "" {
				layout = "2006-01-02T15:04:05.999999999Z07:00"
				step = precisionOf(len(m[11]) - 1)
			}
		}
		t, e := time.Parse(layout, s)
		if e != nil {
			return start, end, bad
		}
		return t, t.Add(step), nil
	case m[4] != "":
		t, e := time.Parse("2006-01-02", s)
		if e != nil {
			return start, end, bad
		}
		return t, t.AddDate(0, 0, 1), nil
	case m[2] != "":
		t, e := time.Parse("2006-01", s)
		if e != nil {
			return start, end, bad
		}
		return t, t.AddDate(0, 1, 0), nil
	}
	t, e := time.Parse("2006", s)
	if e != nil {
		return start, end, bad
	}
	return t, t.AddDate(1, 0, 0), nil
}

func precisionOf(digits int) time.Duration {
	d := time.Second
	for i := 0; i < digits && i < 9; i++ {
		d /= 10
	}
	return d
}
