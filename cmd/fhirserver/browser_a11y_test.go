package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// pageAudit marks every focusable control of the page with its position
// in document order and reports what a screen reader or keyboard user
// would miss: no lang, an input without a label, a described-by that
// points nowhere, a button or link without a name, a positive tabindex,
// text below the contrast WCAG asks, a control smaller than 44 px.
const pageAudit = `(() => {
  const problems = [];
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const what = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.name ? "[name=" + el.name + "]" : "");
  if (!(document.documentElement.getAttribute("lang") || "").trim()) problems.push("html has no lang");
  if (!document.title.trim()) problems.push("no title");
  for (const el of document.querySelectorAll("[tabindex]")) {
    if (parseInt(el.getAttribute("tabindex"), 10) > 0) problems.push("positive tabindex on " + what(el));
  }
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const label = [...(el.labels || [])].some(l => l.textContent.trim()) || (el.getAttribute("aria-label") || "").trim();
    if (!label) problems.push("no label for " + what(el));
    for (const id of (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean)) {
      if (!document.getElementById(id)) problems.push(what(el) + " is described by a missing #" + id);
    }
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (shown(el) && !(el.getAttribute("aria-label") || el.textContent).trim()) problems.push("no name: " + what(el));
  }
  // Contrast of every piece of text against the background it is drawn
  // on: 4.5:1, or 3:1 for large text (WCAG 1.4.3).
  const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c;
    }
    return [255, 255, 255];
  };
  const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = texts.nextNode(); n; n = texts.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || !shown(el)) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    const [a, b] = [lum(rgb(st.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) problems.push("contrast " + ratio.toFixed(2) + ":1 for " + what(el));
  }
  // Targets of at least 44 by 44 CSS pixels: buttons and fields, and for
  // a checkbox or radio button the row it sits in with its label.
  for (const el of document.querySelectorAll("button, input, select, textarea")) {
    if (el.type === "hidden" || !shown(el)) continue;
    const box = (el.type === "checkbox" || el.type === "radio") ? (el.closest(".check, label") || el).getBoundingClientRect() : el.getBoundingClientRect();
    if (box.height < 44 || box.width < 44) problems.push("target " + Math.round(box.width) + "x" + Math.round(box.height) + " for " + what(el));
  }
  // A group of radio buttons is one Tab stop (its checked button, else
  // its first); the arrow keys move within it.
  const radioStop = el => {
    if (el.type !== "radio" || !el.name) return true;
    const group = [...document.querySelectorAll("input[type=radio]")].filter(r => r.name === el.name && r.form === el.form && !r.disabled && shown(r));
    return el === (group.find(r => r.checked) || group[0]);
  };
  const focusable = [...document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")]
    .filter(el => !el.disabled && el.type !== "hidden" && el.getAttribute("tabindex") !== "-1" && shown(el) && radioStop(el));
  focusable.forEach((el, i) => { el.dataset.a11y = i + " " + what(el); });
  return {problems, order: focusable.map(el => el.dataset.a11y)};
})()`

type pageReport struct {
	Problems []string `json:"problems"`
	Order    []string `json:"order"`
}

// checkPage runs the page audit, checks the names the browser's own
// accessibility tree gives every control, and walks the page with the
// Tab key: every control must be reached, in document order.
func checkPage(t *testing.T, tb *tab, name string) {
	t.Helper()
	a, err := chromedp.Run(tb.ctx, chromedp.Evaluate[pageReport](pageAudit))
	if err != nil {
		t.Fatalf("%s: audit: %v", name, err)
	}
	for _, p := range a.Problems {
		t.Errorf("%s (%s): %s", name, tb.location(), p)
	}
	if len(a.Order) == 0 {
		t.Errorf("%s: no control to reach", name)
	}

	// The accessibility tree: every control has a name.
	if _, err := chromedp.Call(tb.ctx, accessibility.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	tree, err := chromedp.Call(tb.ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatalf("%s: accessibility tree: %v", name, err)
	}
	controls := 0
	for _, n := range tree.Nodes {
		if n.Ignored || n.Role == nil {
			continue
		}
		role := axString(n.Role)
		switch role {
		case "button", "link", "textbox", "checkbox", "radio", "combobox", "searchbox":
			controls++
			if strings.TrimSpace(axString(n.Name)) == "" {
				t.Errorf("%s: a %s has no accessible name", name, role)
			}
		}
	}
	if controls == 0 {
		t.Errorf("%s: the accessibility tree shows no control", name)
	}

	// The keyboard: Tab from the top of the page reaches each control in
	// document order (the browser's own stops, if any, come between the
	// last control and the first).
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`(document.activeElement && document.activeElement.blur(), true)`)); err != nil {
		t.Fatal(err)
	}
	var reached []string
	for range 2*len(a.Order) + 2 {
		if err := chromedp.Do(tb.ctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		at, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`(document.activeElement && document.activeElement.dataset && document.activeElement.dataset.a11y) || ""`))
		if err != nil {
			t.Fatal(err)
		}
		if at != "" {
			reached = append(reached, at)
		}
	}
	start := -1
	for i, r := range reached {
		if r == a.Order[0] {
			start = i
			break
		}
	}
	if start < 0 || len(reached)-start < len(a.Order) || strings.Join(reached[start:start+len(a.Order)], "|") != strings.Join(a.Order, "|") {
		t.Errorf("%s: Tab reached %q; want each of %q in order", name, reached, a.Order)
	}

	// Within a group of radio buttons, the arrow keys reach each in order.
	groups, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[][]string](`(() => {
  const g = {};
  for (const r of document.querySelectorAll("input[type=radio]")) if (r.name) (g[r.name] = g[r.name] || []).push(r.id);
  return Object.values(g);
})()`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range groups {
		if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`(document.getElementById(`+strconv.Quote(ids[0])+`).focus(), true)`)); err != nil {
			t.Fatal(err)
		}
		for _, want := range ids[1:] {
			if err := chromedp.Do(tb.ctx, chromedp.KeyEvent(kb.ArrowDown)); err != nil {
				t.Fatal(err)
			}
			at, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`))
			if err != nil {
				t.Fatal(err)
			}
			if at != want {
				t.Errorf("%s: the down arrow went to #%s, want #%s", name, at, want)
				break
			}
		}
	}
}

func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.Value, &s) != nil {
		return ""
	}
	return s
}

// TestBrowserAccessibility: every page of the sign-in journey, as
// Chromium renders it, has its language, a label on every field, a name
// on every button and link, no positive tabindex, and a keyboard order
// that reaches every control in reading order: sign-in, code, recovery,
// new recovery codes, passkeys (empty and with a passkey), authorization,
// error, signed in, trusted devices, the passkey prompt of a sign-in with
// risk signals and its recovery-code page, enrollment, the staff pages (set-up
// link and reset, before and after), and the code page with the "send
// me a code" buttons.
func TestBrowserAccessibility(t *testing.T) {
	chromiumPath(t)
	s := startSMARTWith(t, func(c *Config) { c.MessageFile = filepath.Join(t.TempDir(), "messages.jsonl") })
	ctx := context.Background()
	if _, err := s.OAuth.Accounts().EnrollTOTP(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	codes, err := s.OAuth.Accounts().NewRecoveryCodes(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	addUser(t, s.Main, "nina", "nurse", "Practitioner/nina", "nina's passphrase")
	phone, email := "+1 555 555 0199", "nina@example.org"
	if _, _, err := s.OAuth.Accounts().SetContact(ctx, "nina", &phone, &email); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"cat", "dev"} { // no second factor yet
		if _, err := s.OAuth.Accounts().Add(ctx, u, "patient", "Patient/pat-b", u+"'s passphrase"); err != nil {
			t.Fatal(err)
		}
	}
	browser := startChrome(t)
	tb := newTab(t, browser)
	app := newBrowserApp(t, s, "launch/patient openid fhirUser patient/*.rs")

	tb.do("sign-in page", chromedp.Navigate(app.authURL(s)))
	tb.waitText("Sign in with a passkey")
	checkPage(t, tb, "sign-in")
	tb.signInWithPassword("ann", "correct horse battery")
	tb.waitText("Enter your code")
	checkPage(t, tb, "code")
	tb.do("trust this device", chromedp.Click(chromedp.CSS(`#trust`)))
	tb.enterCode(codes[0])
	tb.waitText("You signed in with a recovery code")
	checkPage(t, tb, "recovery")
	tb.do("new recovery codes", chromedp.Click(chromedp.CSS(`form[action="/oauth/recovery-codes"] button`)))
	tb.waitText("Your new recovery codes")
	checkPage(t, tb, "new recovery codes")
	tb.do("continue", chromedp.Click(chromedp.CSS(`main a[href^="/oauth/flow/"]`)))
	tb.waitText("to use your health record?")
	checkPage(t, tb, "authorization")

	tb.do("passkeys page", chromedp.Navigate(s.base+"/oauth/passkeys"))
	tb.waitText("You have no passkeys yet")
	checkPage(t, tb, "passkeys, none yet")
	tb.addPasskey("Test phone")
	checkPage(t, tb, "passkeys, one")

	tb.do("signed-in page", chromedp.Navigate(s.base+"/oauth/signed-in"))
	tb.waitText("You are signed in")
	checkPage(t, tb, "signed in")
	tb.do("trusted devices page", chromedp.Navigate(s.base+"/oauth/devices"))
	tb.waitText("(this device)")
	checkPage(t, tb, "trusted devices")
	tb.do("error page", chromedp.Navigate(s.base+"/oauth/flow/no-such-flow"))
	tb.waitText("This sign-in link has expired")
	checkPage(t, tb, "error")

	// A browser never seen for ann, without her passkey: asked for the
	// passkey, she goes on with a recovery code instead.
	lost := newTab(t, browser)
	lost.do("sign-in elsewhere", chromedp.Navigate(s.base+"/oauth/login?next=/oauth/signed-in"))
	lost.signInWithPassword("ann", "correct horse battery")
	lost.waitText("I can't use my passkey")
	checkPage(t, lost, "passkey asked, with a recovery code instead")
	lost.do("recovery code instead", chromedp.Click(chromedp.CSS(`form[action="/oauth/login/recovery-code"] button`)))
	lost.waitText("Enter a recovery code")
	checkPage(t, lost, "code, a recovery code only")

	// Enrollment: an account with no second factor, after its password.
	tb.do("sign in without a factor", chromedp.Navigate(s.base+"/oauth/login?next=/oauth/signed-in"))
	tb.signInWithPassword("cat", "cat's passphrase")
	tb.waitText("With an authenticator app")
	checkPage(t, tb, "enrollment")

	// The staff pages, for a nurse signed in with her authenticator.
	tb.do("staff sign-in", chromedp.Navigate(s.base+"/oauth/login?next=/oauth/enroll-link"))
	tb.signInWithPassword("nina", "nina's passphrase")
	tb.enterCode(s.code(t, "nina"))
	tb.waitText("The patient's username")
	checkPage(t, tb, "enrollment link")
	tb.do("issue a link", chromedp.SendKeys(chromedp.ID("username"), "dev"),
		chromedp.Click(chromedp.CSS(`form[action="/oauth/enroll-link"] button`)))
	tb.waitText("Give the patient this link")
	checkPage(t, tb, "enrollment link issued")
	tb.do("reset page", chromedp.Navigate(s.base+"/oauth/reset"))
	tb.waitText("How you checked who they are")
	checkPage(t, tb, "staff reset")
	tb.do("reset ann", chromedp.SendKeys(chromedp.ID("username"), "ann"), chromedp.Click(chromedp.ID("method-0")),
		chromedp.Click(chromedp.ID("verified")), chromedp.Click(chromedp.CSS(`form[action="/oauth/reset"] button`)))
	tb.waitText("Give them this link")
	checkPage(t, tb, "staff reset done")

	// The code page with "send me a code": nina again, from the browser
	// she has used (no risk signal).
	tb.do("sign in again", chromedp.Navigate(s.base+"/oauth/login?next=/oauth/signed-in"))
	tb.signInWithPassword("nina", "nina's passphrase")
	tb.waitText("Send me a code by text message instead")
	checkPage(t, tb, "code, with codes by text or email")
}

// TestBrowserPasskeysUnavailable: in a browser without WebAuthn the
// sign-in page hides the passkey button and says so in plain words,
// and the password form still works.
func TestBrowserPasskeysUnavailable(t *testing.T) {
	chromiumPath(t)
	s := startSMART(t)
	tb := newTab(t, startChrome(t))
	if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `delete window.PublicKeyCredential;`}); err != nil {
		t.Fatal(err)
	}
	tb.do("sign-in page", chromedp.Navigate(s.base+"/oauth/login?next=/oauth/signed-in"))
	tb.waitText("Passkeys do not work in this browser")
	hidden, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`document.getElementById("passkey-signin").hidden`))
	if err != nil || !hidden {
		t.Errorf("the passkey button is shown without WebAuthn (%v)", err)
	}
	checkPage(t, tb, "sign-in without passkeys")
	tb.signInWithPassword("ann", "correct horse battery")
	tb.enterCode(s.code(t, "ann"))
	tb.waitText("You are signed in")
}
