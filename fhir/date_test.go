package fhir

import (
	"testing"
	"time"
)

func TestParseDateRange(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		in         string
		start, end string
	}{
		{"2024", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"2024-02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"2024-02-29", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"2024-02-29T10:30Z", "2024-02-29T10:30:00Z", "2024-02-29T10:31:00Z"},
		{"2024-02-29T10:30:05+02:00", "2024-02-29T08:30:05Z", "2024-02-29T08:30:06Z"},
		{"2024-02-29T10:30:05.120Z", "2024-02-29T10:30:05.12Z", "2024-02-29T10:30:05.121Z"},
	} {
		s, e, err := ParseDateRange(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if !s.Equal(utc(tc.start)) || !e.Equal(utc(tc.end)) {
			t.Errorf("%s: got [%s, %s)", tc.in, s, e)
		}
	}
	for _, bad := range []string{"", "24", "2024-13", "2024-02-30", "2024-02-29T25:00Z", "yesterday", "2024-1-1"} {
		if _, _, err := ParseDateRange(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
