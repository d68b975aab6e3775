package main

import (
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/audit"
)

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"6y":     audit.MinRetention,
		"7.5y":   time.Duration(7.5 * float64(audit.Year)),
		"2200d":  2200 * 24 * time.Hour,
		"52596h": 52596 * time.Hour,
	} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("parseRetention(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "5y", "2000d", "720h", "-6y", "0d", "six years", "6", "99999y"} {
		if got, err := parseRetention(bad); err == nil {
			t.Errorf("parseRetention(%q) = %s, want an error", bad, got)
		}
	}
}
