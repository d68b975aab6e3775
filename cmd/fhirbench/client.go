package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client sends FHIR requests to one base URL and nowhere else: paging links
// that point at another scheme or host are refused. With auth set, every
// request carries its bearer token.
type client struct {
	base   string // without a trailing slash
	origin string // scheme://host of base
	http   *http.Client
	auth   tokenSource // nil: requests go without a token
}

// tokenSource hands out the access token to send now; many goroutines ask
// it at once. backendauth.Source is one.
type tokenSource interface {
	Token(ctx context.Context) (string, error)
}

func newClient(base string, conns int, timeout time.Duration) (*client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("-base: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("-base %q: want an http or https URL", base)
	}
	tr := &http.Transport{
		Proxy:               nil, // measure the server, not a proxy in between
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	return &client{
		base:   strings.TrimRight(base, "/"),
		origin: u.Scheme + "://" + u.Host,
		http:   &http.Client{Transport: tr, Timeout: timeout},
	}, nil
}

// close drops idle connections, ending their goroutines.
func (c *client) close() { c.http.CloseIdleConnections() }

// statusError is an answer with a status other than the one expected.
type statusError struct {
	method, url string
	status      int
	body        string // the start of the body
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.method, e.url, e.status, http.StatusText(e.status), e.body)
}

// errBodyBytes is how much of an unexpected answer an error keeps.
const errBodyBytes = 600

// resolve turns a path relative to the base, or an absolute URL on the
// base's origin (a paging link), into a URL to request.
func (c *client) resolve(ref string) (string, error) {
	if strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		u, err := url.Parse(ref)
		if err != nil {
			return "", err
		}
		if u.Scheme+"://"+u.Host != c.origin {
			return "", fmt.Errorf("link %s leaves %s; not following it", ref, c.origin)
		}
		return ref, nil
	}
	if ref == "" {
		return c.base, nil
	}
	return c.base + "/" + strings.TrimPrefix(ref, "/"), nil
}

// do sends one request and checks the answer's status is want. With out
// non-nil the body is decoded into it; otherwise it is read and dropped.
func (c *client) do(ctx context.Context, method, ref string, body []byte, want int, out any) error {
	u, err := c.resolve(ref)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/fhir+json")
	if c.auth != nil {
		tok, err := c.auth.Token(ctx)
		if err != nil {
			return &noTokenError{err}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyBytes))
		io.Copy(io.Discard, resp.Body)
		return &statusError{method: method, url: u, status: resp.StatusCode, body: string(b)}
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, u, err)
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}

// bundle holds what the tool reads from the Bundles the server returns:
// searchsets (paging links, matches) and transaction responses.
type bundle struct {
	Type  string `json:"type"`
	Total *int   `json:"total"`
	Link  []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string `json:"fullUrl"`
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			// Name is a list of HumanName in a Patient, a string in a
			// CareTeam or an Organization: read with family.
			Name json.RawMessage `json:"name"`
		} `json:"resource"`
		Search *struct {
			Mode string `json:"mode"`
		} `json:"search"`
		Response *struct {
			Status   string `json:"status"`
			Location string `json:"location"`
		} `json:"response"`
	} `json:"entry"`
}

// next is the Bundle's next link, or "".
func (b *bundle) next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// matches counts the entries in search mode match (all entries when the
// server leaves search.mode out).
func (b *bundle) matches() int {
	n := 0
	for _, e := range b.Entry {
		if e.Search == nil || e.Search.Mode == "" || e.Search.Mode == "match" {
			n++
		}
	}
	return n
}

// maxPages bounds every walk along next links.
const maxPages = 10_000

// errTooManyPages stops a walk that does not end.
var errTooManyPages = errors.New("more than 10000 pages; stopping")

// pages GETs ref and then each next link, calling fn with every page.
func (c *client) pages(ctx context.Context, ref string, fn func(*bundle) error) error {
	for i := 0; ref != ""; i++ {
		if i == maxPages {
			return errTooManyPages
		}
		var b bundle
		if err := c.do(ctx, http.MethodGet, ref, nil, http.StatusOK, &b); err != nil {
			return err
		}
		if err := fn(&b); err != nil {
			return err
		}
		ref = b.next()
	}
	return nil
}

// idFromLocation reads type and id from a Location such as
// http://host/fhir/Patient/123/_history/1 or Patient/123.
func idFromLocation(loc string) (typ, id string) {
	if u, err := url.Parse(loc); err == nil {
		loc = u.Path
	}
	segs := strings.Split(strings.Trim(loc, "/"), "/")
	if n := len(segs); n >= 4 && segs[n-2] == "_history" {
		segs = segs[:n-2]
	}
	if n := len(segs); n >= 2 {
		return segs[n-2], segs[n-1]
	}
	return "", ""
}

// known is what the scenarios draw from: Patient ids and the family names
// of those patients.
type known struct {
	ids      []string
	families []string
}

// collectPatients pages through Patient?_count=1000&_elements=id,name and
// returns every Patient id and family name it finds.
func collectPatients(ctx context.Context, c *client) (*known, error) {
	k := &known{}
	seen := map[string]bool{}
	err := c.pages(ctx, "Patient?_count=1000&_elements=id,name", func(b *bundle) error {
		for _, e := range b.Entry {
			r := e.Resource
			if r.ResourceType != "Patient" || r.ID == "" || seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			k.ids = append(k.ids, r.ID)
			if f := family(r.Name); f != "" {
				k.families = append(k.families, f)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing patients: %w", err)
	}
	return k, nil
}

// family is the first family name in a Patient's name, or "".
func family(name json.RawMessage) string {
	var names []struct {
		Family string `json:"family"`
	}
	if json.Unmarshal(name, &names) != nil {
		return ""
	}
	for _, n := range names {
		if n.Family != "" {
			return n.Family
		}
	}
	return ""
}
