package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeFHIR answers like the FHIR API, for the requests fhirbench sends:
// transaction Bundles (each entry gets a Location), reads, searches with
// paging links, $everything in pages, and creates. With auth set, it asks
// for bearer tokens as the server does (auth_test.go).
type fakeFHIR struct {
	srv      *httptest.Server
	base     string
	nextID   atomic.Int64
	requests atomic.Int64
	auth     *fakeAuth // nil: no tokens asked for

	mu       sync.Mutex
	patients []string // Patient ids, in creation order
	families []string
	queries  []string // search query strings seen
	bundles  int      // transactions seen, refused ones too

	refuseBundle int // refuse the n-th transaction (1-based) with 422; 0: never
	pageSize     int // entries per page of searches and $everything
	everything   int // resources in each record
}

func newFake(t *testing.T) *fakeFHIR {
	f := &fakeFHIR{pageSize: 2, everything: 5}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.base = f.srv.URL + "/fhir"
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFHIR) write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	// A client that gave up (the load stopping at a refusal) may have
	// hung up already: the write error says nothing about fhirbench.
	_ = json.NewEncoder(w).Encode(v)
}

func outcome(diag string) obj {
	return obj{"resourceType": "OperationOutcome", "issue": []obj{{"severity": "error", "code": "invalid", "diagnostics": diag}}}
}

func (f *fakeFHIR) serve(w http.ResponseWriter, r *http.Request) {
	if f.auth != nil && f.auth.answered(f, w, r) {
		return
	}
	n := f.requests.Add(1)
	path := strings.TrimPrefix(r.URL.Path, "/fhir")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && path == "":
		f.transaction(w, r, int(n))
	case r.Method == http.MethodPost && path == "/Observation":
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Location", f.base+"/Observation/new/_history/1")
		f.write(w, http.StatusCreated, obj{"resourceType": "Observation", "id": "new"})
	case r.Method == http.MethodGet && len(segs) == 2 && segs[0] == "Patient":
		f.write(w, http.StatusOK, obj{"resourceType": "Patient", "id": segs[1]})
	case r.Method == http.MethodGet && len(segs) == 3 && segs[2] == "$everything":
		f.searchset(w, r, f.everything, func(i int) obj { return obj{"resourceType": "Observation", "id": strconv.Itoa(i)} })
	case r.Method == http.MethodGet && len(segs) == 1:
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		ids, fams := append([]string(nil), f.patients...), append([]string(nil), f.families...)
		f.mu.Unlock()
		if segs[0] == "Observation" {
			f.searchset(w, r, 3, func(i int) obj { return obj{"resourceType": "Observation", "id": strconv.Itoa(i)} })
			return
		}
		f.searchset(w, r, len(ids), func(i int) obj {
			return obj{"resourceType": "Patient", "id": ids[i], "name": []obj{{"family": fams[i]}}}
		})
	default:
		f.write(w, http.StatusNotFound, outcome("no route "+r.Method+" "+path))
	}
}

// searchset answers page ?page=k of total resources with a next link.
func (f *fakeFHIR) searchset(w http.ResponseWriter, r *http.Request, total int, res func(int) obj) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	var entries []obj
	for i := page * f.pageSize; i < min(total, (page+1)*f.pageSize); i++ {
		entries = append(entries, obj{"fullUrl": "x", "resource": res(i), "search": obj{"mode": "match"}})
	}
	links := []obj{{"relation": "self", "url": f.base + r.URL.Path}}
	if (page+1)*f.pageSize < total {
		links = append(links, obj{"relation": "next", "url": f.base + strings.TrimPrefix(r.URL.Path, "/fhir") + "?page=" + strconv.Itoa(page+1)})
	}
	f.write(w, http.StatusOK, obj{"resourceType": "Bundle", "type": "searchset", "total": total, "link": links, "entry": entries})
}

// transaction answers a transaction Bundle the way the server does: one
// response entry per request entry, in order, with a versioned Location.
func (f *fakeFHIR) transaction(w http.ResponseWriter, r *http.Request, n int) {
	var in struct {
		Type  string `json:"type"`
		Entry []struct {
			Resource struct {
				ResourceType string          `json:"resourceType"`
				Name         json.RawMessage `json:"name"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Type != "transaction" {
		f.write(w, http.StatusBadRequest, outcome(fmt.Sprintf("not a transaction: %v", err)))
		return
	}
	f.mu.Lock()
	f.bundles++
	refuse := f.bundles == f.refuseBundle
	f.mu.Unlock()
	if refuse {
		f.write(w, http.StatusUnprocessableEntity, outcome("Observation.status: missing"))
		return
	}
	var out []obj
	for _, e := range in.Entry {
		id := strconv.FormatInt(f.nextID.Add(1), 10)
		typ := e.Resource.ResourceType
		if typ == "Patient" {
			f.mu.Lock()
			f.patients = append(f.patients, id)
			f.families = append(f.families, family(e.Resource.Name))
			f.mu.Unlock()
		}
		out = append(out, obj{"response": obj{"status": "201 Created", "location": f.base + "/" + typ + "/" + id + "/_history/1"}})
	}
	f.write(w, http.StatusOK, obj{"resourceType": "Bundle", "type": "transaction-response", "entry": out})
}

// noLeaks fails the test if goroutines started during it are still running
// once its connections (c, when not nil) are closed. A goroutine that has
// said it is done may take a moment to end, hence the wait.
func noLeaks(t *testing.T, before int, c *client) {
	t.Helper()
	if c != nil {
		c.close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		now := runtime.NumGoroutine()
		if now <= before {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines before, %d after", before, now)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
