package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// Trusted devices. After a sign-in with a real second factor (the code
// page, a recovery code, a passkey) the user may tick "Trust this
// device": the browser gets a random 256-bit token in a cookie, and the
// server keeps only its hash, bound to the account, with an expiry. A
// later routine sign-in from that browser with the right password, no
// risk signal (risk.go) and a live token of the same account skips the
// second factor: the session has acr two factors and amr
// ["pwd", "x-trusted-device"] (AMRTrustedDevice). Such a session is
// never strong (StrongAuthentication): step-up, prompt=login, max_age,
// acr_values and a client that requires phishing-resistant all ask for
// a real second factor. The user sees and revokes their devices at
// /oauth/devices; signing out everywhere, a new password, a factor
// change and disabling the account revoke them all.

const (
	kindDevice   = "login.device"
	deviceCookie = "oncofhir_trust"
	// DefaultTrustedDeviceLife is how long a trusted device skips the
	// second factor of routine sign-ins.
	DefaultTrustedDeviceLife = 30 * 24 * time.Hour
	// maxTrustedDevices bounds an account's trusted devices: trusting
	// one more replaces the oldest.
	maxTrustedDevices = 10
	devicesPath       = "/oauth/devices"
)

// trustedDevice is a browser a user trusted, found by the hash of its
// cookie's token (the token itself is never stored).
type trustedDevice struct {
	ID       string    `json:"id"` // random, names the device in forms
	Account  string    `json:"account"`
	Name     string    `json:"name"` // from the User-Agent, in plain words
	Added    time.Time `json:"added"`
	LastUsed time.Time `json:"lastUsed,omitzero"`
	Expires  time.Time `json:"expires"`
	key      string
	rev      int64
}

func decodeDevice(r *fhir.Record) (*trustedDevice, error) {
	var d trustedDevice
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, err
	}
	d.key, d.rev = r.Key, r.Rev
	return &d, nil
}

func (d *trustedDevice) record() (*fhir.Record, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return &fhir.Record{Kind: kindDevice, Key: d.key, Data: data, Attrs: map[string]string{"account": d.Account},
		Expires: d.Expires, Rev: d.rev}, nil
}

// setDeviceCookie sets one of the long-lived device cookies: HttpOnly,
// SameSite=Lax, Path /oauth, Secure whenever the base URL (or the
// request) is https.
func (s *Server) setDeviceCookie(c echo.Context, name, value string, maxAge int) {
	secure := strings.HasPrefix(s.root, "https://") || c.Scheme() == "https"
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: "/oauth", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// trustedDevice returns this browser's trusted device when its token is
// live and bound to account; nil otherwise (no token, an expired or
// revoked one, another account's).
func (s *Server) trustedDevice(c echo.Context, account string) (*trustedDevice, error) {
	ck, err := c.Cookie(deviceCookie)
	if err != nil || len(ck.Value) < 43 {
		return nil, nil
	}
	r, err := s.cfg.Records.GetRecord(c.Request().Context(), kindDevice, hashKey(ck.Value))
	if errors.Is(err, fhir.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	d, err := decodeDevice(r)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(d.Account), []byte(account)) != 1 || !s.now().Before(d.Expires) {
		return nil, nil
	}
	return d, nil
}

// touchDevice notes a trusted device's use (a lost race only means
// another sign-in noted it).
func (s *Server) touchDevice(ctx context.Context, d *trustedDevice) {
	d.LastUsed = s.now().UTC()
	if r, err := d.record(); err == nil {
		_ = s.cfg.Records.PutRecord(ctx, r)
	}
}

// trustDevice makes this browser a trusted device of acct, after a
// sign-in with a real second factor. A token this browser held before
// is replaced; past maxTrustedDevices the oldest device goes. Trusting is
// recorded before the browser gets its token: no shortcut without its
// record.
func (s *Server) trustDevice(c echo.Context, acct *Account) error {
	ctx, now := c.Request().Context(), s.now().UTC()
	if ck, err := c.Cookie(deviceCookie); err == nil && ck.Value != "" {
		if r, err := s.cfg.Records.GetRecord(ctx, kindDevice, hashKey(ck.Value)); err == nil {
			if old, err := decodeDevice(r); err == nil && old.Account == acct.ID {
				_ = s.cfg.Records.DeleteRecord(ctx, kindDevice, r.Key)
				s.report(c, SecurityEvent{Kind: DeviceRevoked, Account: acct.ID, Role: acct.Role, Success: true,
					Detail: "trusted device replaced by a new trust on the same device"})
			}
		}
	}
	devices, err := s.devicesOf(ctx, acct.ID)
	if err != nil {
		return err
	}
	for len(devices) >= maxTrustedDevices {
		if err := s.cfg.Records.DeleteRecord(ctx, kindDevice, devices[0].key); err != nil {
			return err
		}
		s.report(c, SecurityEvent{Kind: DeviceRevoked, Account: acct.ID, Role: acct.Role, Success: true,
			Detail: "oldest trusted device revoked: too many trusted devices"})
		devices = devices[1:]
	}
	value := randomToken(32) // 256 bits
	d := &trustedDevice{ID: randomToken(12), Account: acct.ID, Name: deviceName(c.Request().UserAgent()),
		Added: now, Expires: now.Add(s.cfg.TrustedDeviceLife), key: hashKey(value)}
	r, err := d.record()
	if err != nil {
		return err
	}
	if err := s.cfg.Records.PutRecord(ctx, r); err != nil {
		return err
	}
	if err := s.reportOrFail(c, SecurityEvent{Kind: DeviceTrusted, Account: acct.ID, Role: acct.Role, Success: true,
		Detail: "device trusted for routine sign-ins"}); err != nil {
		_ = s.cfg.Records.DeleteRecord(ctx, kindDevice, d.key)
		return nil // the sign-in stands; the device is simply not trusted
	}
	s.setDeviceCookie(c, deviceCookie, value, int(s.cfg.TrustedDeviceLife/time.Second))
	return nil
}

// devicesOf lists an account's live trusted devices, oldest first.
func (s *Server) devicesOf(ctx context.Context, account string) ([]*trustedDevice, error) {
	found, err := s.cfg.Records.FindRecords(ctx, kindDevice, "account", account)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []*trustedDevice
	for _, r := range found {
		d, err := decodeDevice(r)
		if err != nil {
			return nil, err
		}
		if now.Before(d.Expires) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *trustedDevice) int { return a.Added.Compare(b.Added) })
	return out, nil
}

// Why trusted devices were revoked, as the audit trail records it.
const (
	revokedByUser       = "trusted device revoked by its user"
	revokedEverywhere   = "trusted device revoked: signed out everywhere"
	revokedAccount      = "trusted device revoked: the account's password, second factor or status changed"
	revokedPasskeyGone  = "trusted device revoked: a passkey was removed"
	revokedFailedDetail = "revoking trusted devices failed"
)

// endDevices revokes every trusted device of an account and records each
// (why: one of the revoked constants).
func endDevices(ctx context.Context, rec fhir.Records, report func(SecurityEvent), acct *Account, why string) error {
	found, err := rec.FindRecords(ctx, kindDevice, "account", acct.ID)
	if err != nil {
		report(SecurityEvent{Kind: DeviceRevoked, Account: acct.ID, Role: acct.Role, Detail: revokedFailedDetail})
		return err
	}
	for _, r := range found {
		if err := rec.DeleteRecord(ctx, kindDevice, r.Key); err != nil {
			report(SecurityEvent{Kind: DeviceRevoked, Account: acct.ID, Role: acct.Role, Detail: revokedFailedDetail})
			return err
		}
		report(SecurityEvent{Kind: DeviceRevoked, Account: acct.ID, Role: acct.Role, Success: true, Detail: why})
	}
	return nil
}

// endDevices, for the account registry: a change that ends the account's
// sessions (a password, a factor, disabling) ends its trusted devices.
func (as Accounts) endDevices(ctx context.Context, acct *Account) error {
	return endDevices(ctx, as.Records, func(e SecurityEvent) {
		reportChange(ctx, as.Events, as.Logger, as.Now, e)
	}, acct, revokedAccount)
}

// endDevicesNow, for the pages: every trusted device of acct ends,
// recorded with this request.
func (s *Server) endDevicesNow(c echo.Context, acct *Account, why string) error {
	return endDevices(c.Request().Context(), s.cfg.Records, func(e SecurityEvent) { s.report(c, e) }, acct, why)
}

// deviceRow is a trusted device as the devices page shows it.
type deviceRow struct {
	ID, Name, Added, LastUsed, Expires string
	Current                            bool // the browser showing the page
}

// devicesPage lists the signed-in user's trusted devices, with a form to
// revoke each and one to revoke them all.
func (s *Server) devicesPage(c echo.Context) error {
	return s.showDevices(c, http.StatusOK, pageData{})
}

func (s *Server) showDevices(c echo.Context, status int, d pageData) error {
	login, acct, err := s.signedInAccount(c)
	if err != nil {
		return err
	}
	if login == nil {
		return c.Redirect(http.StatusSeeOther, "/oauth/login?next="+devicesPath)
	}
	devices, err := s.devicesOf(c.Request().Context(), acct.ID)
	if err != nil {
		return err
	}
	current := ""
	if ck, err := c.Cookie(deviceCookie); err == nil && ck.Value != "" {
		current = hashKey(ck.Value)
	}
	d.Title = "Your trusted devices"
	if d.Error != "" {
		d.Title = "Your trusted devices: please check"
	}
	loc := s.cfg.Location
	for _, dev := range devices {
		row := deviceRow{ID: dev.ID, Name: dev.Name, Added: dev.Added.In(loc).Format("2 January 2006"),
			Expires: dev.Expires.In(loc).Format("2 January 2006"), Current: dev.key == current}
		if !dev.LastUsed.IsZero() {
			row.LastUsed = dev.LastUsed.In(loc).Format("2 January 2006")
		}
		d.Devices = append(d.Devices, row)
	}
	return s.page(c, status, "devices", d)
}

// devicesRevoke revokes one trusted device of the signed-in user (id),
// or all of them (all=1).
func (s *Server) devicesRevoke(c echo.Context) error {
	if !s.checkCSRF(c) {
		return s.formExpired(c)
	}
	ctx := c.Request().Context()
	login, acct, err := s.signedInAccount(c)
	if err != nil {
		return err
	}
	if login == nil {
		return c.Redirect(http.StatusSeeOther, "/oauth/login?next="+devicesPath)
	}
	if c.FormValue("all") == "1" {
		if err := s.endDevicesNow(c, acct, revokedByUser); err != nil {
			return err
		}
		s.setDeviceCookie(c, deviceCookie, "", -1)
		return s.showDevices(c, http.StatusOK, pageData{Notice: "Every trusted device was removed. Each will ask for your second factor again."})
	}
	devices, err := s.devicesOf(ctx, acct.ID)
	if err != nil {
		return err
	}
	id := c.FormValue("id")
	for _, d := range devices {
		if subtle.ConstantTimeCompare([]byte(d.ID), []byte(id)) != 1 {
			continue
		}
		if err := s.cfg.Records.DeleteRecord(ctx, kindDevice, d.key); err != nil {
			return err
		}
		s.report(c, SecurityEvent{Kind: DeviceRevoked, Account: acct.ID, Role: acct.Role, Success: true, Detail: revokedByUser})
		return s.showDevices(c, http.StatusOK, pageData{Notice: "“" + d.Name + "” is no longer trusted. It will ask for your second factor again."})
	}
	return s.showDevices(c, http.StatusNotFound, pageData{Error: "That device is no longer on your list."})
}

// deviceName names a browser from its User-Agent in plain words ("Firefox
// on Windows"); only this name is kept, never the User-Agent itself.
func deviceName(ua string) string {
	browser := "A web browser"
	switch {
	case strings.Contains(ua, "Edg/") || strings.Contains(ua, "EdgA/") || strings.Contains(ua, "EdgiOS/"):
		browser = "Edge"
	case strings.Contains(ua, "OPR/") || strings.Contains(ua, "Opera"):
		browser = "Opera"
	case strings.Contains(ua, "SamsungBrowser/"):
		browser = "Samsung Internet"
	case strings.Contains(ua, "Firefox/") || strings.Contains(ua, "FxiOS/"):
		browser = "Firefox"
	case strings.Contains(ua, "Chrome/") || strings.Contains(ua, "CriOS/") || strings.Contains(ua, "Chromium/"):
		browser = "Chrome"
	case strings.Contains(ua, "Safari/") && strings.Contains(ua, "Version/"):
		browser = "Safari"
	}
	system := ""
	switch {
	case strings.Contains(ua, "iPhone"):
		system = "iPhone"
	case strings.Contains(ua, "iPad"):
		system = "iPad"
	case strings.Contains(ua, "Android"):
		system = "Android"
	case strings.Contains(ua, "Windows"):
		system = "Windows"
	case strings.Contains(ua, "CrOS"):
		system = "ChromeOS"
	case strings.Contains(ua, "Macintosh") || strings.Contains(ua, "Mac OS X"):
		system = "Mac"
	case strings.Contains(ua, "Linux"):
		system = "Linux"
	}
	if system == "" {
		return browser
	}
	return browser + " on " + system
}
