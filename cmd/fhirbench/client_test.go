package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestIDFromLocation(t *testing.T) {
	for _, tt := range []struct{ loc, typ, id string }{
		{"http://localhost:18090/fhir/Patient/abc-1/_history/1", "Patient", "abc-1"},
		{"http://localhost:18090/fhir/Observation/9/_history/12", "Observation", "9"},
		{"Patient/abc/_history/2", "Patient", "abc"},
		{"Patient/abc", "Patient", "abc"},
		{"http://h/fhir/Patient/abc", "Patient", "abc"},
		{"", "", ""},
		{"Patient", "", ""},
	} {
		typ, id := idFromLocation(tt.loc)
		if typ != tt.typ || id != tt.id {
			t.Errorf("idFromLocation(%q) = %q, %q; want %q, %q", tt.loc, typ, id, tt.typ, tt.id)
		}
	}
}

func TestCollectPatientsPagesThroughNextLinks(t *testing.T) {
	f := newFake(t)
	f.patients = []string{"p1", "p2", "p3", "p2", "p5"} // a repeat across pages counts once
	f.families = []string{"Ambercroft482", "Dunmore17", "Ironwood900", "Dunmore17", "Quenby33"}
	before := runtime.NumGoroutine()
	c, err := newClient(f.base, 4, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	k, err := collectPatients(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(k.ids, ","); got != "p1,p2,p3,p5" {
		t.Errorf("ids %s", got)
	}
	if got := strings.Join(k.families, ","); got != "Ambercroft482,Dunmore17,Ironwood900,Quenby33" {
		t.Errorf("families %s", got)
	}
	if len(f.queries) != 3 || f.queries[0] != "_count=1000&_elements=id,name" {
		t.Errorf("queries %q: want the first with _count=1000&_elements=id,name and two next pages", f.queries)
	}
	noLeaks(t, before, c)
}

func TestNextLinkToAnotherHostIsNotFollowed(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the other host: %s", r.URL)
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"` + other.URL + `/fhir/Patient?page=2"}]}`))
	}))
	defer srv.Close()
	c, err := newClient(srv.URL+"/fhir/", 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	_, err = collectPatients(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "not following it") {
		t.Errorf("got %v, want a refusal to follow the link", err)
	}
}

func TestUnexpectedStatusKeepsStatusAndBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported","diagnostics":"unknown parameter name"}]}`))
	}))
	defer srv.Close()
	c, _ := newClient(srv.URL+"/fhir", 1, 5*time.Second)
	defer c.close()
	err := c.do(context.Background(), http.MethodGet, "Patient?name=Am", nil, http.StatusOK, nil)
	var se *statusError
	if !errors.As(err, &se) || se.status != 400 || !strings.Contains(se.body, "unknown parameter name") {
		t.Fatalf("got %v", err)
	}
	if want := "GET " + srv.URL + "/fhir/Patient?name=Am: 400 Bad Request: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
}

func TestBaseMustBeHTTP(t *testing.T) {
	for _, base := range []string{"localhost:8080/fhir", "ftp://h/fhir", "http://"} {
		if _, err := newClient(base, 1, time.Second); err == nil {
			t.Errorf("%q accepted", base)
		}
	}
}
