package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/oauth"
)

// Config is read once, here, from flags and FHIR_* environment variables
// (a flag given on the command line wins), validated, and passed down.
type Config struct {
	Addr         string
	BaseURL      string
	DataDir      string
	MongoURI     string
	Demo         bool
	MaxBodyBytes int64
	CursorKey    string // signs paging cursors; random per process when empty
	// Token and session lifetimes.
	AccessTokenLifetime time.Duration
	OfflineLifetime     time.Duration
	SessionIdle         time.Duration
	SessionMax          time.Duration
	StepUpMaxAge        time.Duration
	// StepUpLabels are the security labels whose resources need a recent
	// two-factor sign-in (nil: R and V; empty: none).
	StepUpLabels []consent.Label
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; without them the connection's address does.
	TrustedProxies []*net.IPNet
	// RequireACR is the level every user token needs (two factors, or
	// phishing-resistant); never a password alone.
	RequireACR string
	// TypeACR raises the level for user tokens whose scopes reach a
	// resource type: type → acr.
	TypeACR map[string]string
	// MFADeferrals is how many times an account may put off setting up
	// a second factor at sign-in.
	MFADeferrals int
	// TrustedDeviceDays is how long a device a user trusts skips the
	// second factor of routine sign-ins.
	TrustedDeviceDays int
	// AuditKeyFile holds the Ed25519 key that signs audit checkpoints,
	// kept apart from the data ("" means audit-signing.key beside the
	// embedded store, or in the working directory with MongoDB).
	AuditKeyFile string
	// AuditRetention is how long AuditEvents are kept (at least six
	// years); older ones are purged daily.
	AuditRetention time.Duration
	// AlertWebhook receives audit alerts (HTTP POST, JSON); "" none.
	AlertWebhook string
	// AlertLocation is the time zone of the after-hours alert.
	AlertLocation *time.Location
	// MessageFile receives fallback sign-in codes and security notices
	// as JSON lines, for a text message or email gateway ("" none: no
	// fallback codes, no notices).
	MessageFile string
}

// auditKeyPath is where the audit signing key lives.
func (c Config) auditKeyPath() string {
	if c.AuditKeyFile != "" {
		return c.AuditKeyFile
	}
	if c.MongoURI == "" && c.DataDir != "" {
		return filepath.Join(c.DataDir, "audit-signing.key")
	}
	return "audit-signing.key"
}

const messageFileUsage = "file (mode 0600, created when missing) that sign-in codes by text message or email, and security notices, are appended to as JSON lines for a gateway; empty: no such codes or notices (FHIR_MESSAGE_FILE)"

// sender is the message file's Sender, or nil when there is none.
func (c Config) sender() (oauth.Sender, error) {
	if c.MessageFile == "" {
		return nil, nil
	}
	return oauth.NewFileSender(c.MessageFile, nil)
}

// FHIRBase is the base URL of the FHIR API.
func (c Config) FHIRBase() string { return strings.TrimRight(c.BaseURL, "/") + "/fhir" }

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	// Secrets may come from a file named by NAME_FILE.
	if f, ok := os.LookupEnv(name + "_FILE"); ok {
		if b, err := os.ReadFile(f); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return def
}

func envBool(name string, def bool) bool {
	if v, err := strconv.ParseBool(env(name, strconv.FormatBool(def))); err == nil {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(env(name, def.String())); err == nil {
		return v
	}
	return def
}

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(env(name, strconv.FormatInt(def, 10)), 10, 64); err == nil {
		return v
	}
	return def
}

// parseConfig reads the flags of serve and import.
func parseConfig(name string, args []string) (Config, []string, error) {
	var c Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", env("FHIR_ADDR", "127.0.0.1:8080"), "listen address (FHIR_ADDR)")
	fs.StringVar(&c.BaseURL, "base-url", env("FHIR_BASE_URL", "http://localhost:8080"), "public base URL; the FHIR base is {base-url}/fhir (FHIR_BASE_URL)")
	fs.StringVar(&c.DataDir, "data", env("FHIR_DATA", "./data"), "directory of the embedded store (FHIR_DATA)")
	fs.StringVar(&c.MongoURI, "mongo-uri", env("FHIR_MONGO_URI", ""), "MongoDB URI; empty means the embedded store (FHIR_MONGO_URI, or FHIR_MONGO_URI_FILE)")
	fs.BoolVar(&c.Demo, "demo", envBool("FHIR_DEMO", false), "load synthetic demo patients into an empty store (FHIR_DEMO)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body", envInt("FHIR_MAX_BODY", 16<<20), "largest request body in bytes (FHIR_MAX_BODY)")
	fs.StringVar(&c.CursorKey, "cursor-key", env("FHIR_CURSOR_KEY", ""), "secret that signs paging links; set the same value on every process of one deployment (FHIR_CURSOR_KEY, or FHIR_CURSOR_KEY_FILE)")
	fs.DurationVar(&c.AccessTokenLifetime, "access-token-lifetime", envDuration("FHIR_ACCESS_TOKEN_LIFETIME", time.Hour), "lifetime of access tokens, at most 1h (FHIR_ACCESS_TOKEN_LIFETIME)")
	fs.DurationVar(&c.OfflineLifetime, "offline-lifetime", envDuration("FHIR_OFFLINE_LIFETIME", 90*24*time.Hour), "lifetime of offline_access refresh tokens (FHIR_OFFLINE_LIFETIME)")
	fs.DurationVar(&c.SessionIdle, "session-idle", envDuration("FHIR_SESSION_IDLE", 15*time.Minute), "sign-in sessions end after this long unused (FHIR_SESSION_IDLE)")
	fs.DurationVar(&c.SessionMax, "session-max", envDuration("FHIR_SESSION_MAX", 12*time.Hour), "sign-in sessions end this long after sign-in (FHIR_SESSION_MAX)")
	fs.DurationVar(&c.StepUpMaxAge, "step-up-max-age", envDuration("FHIR_STEP_UP_MAX_AGE", 15*time.Minute), "how recent a two-factor sign-in must be for $everything, documents and Consent writes (FHIR_STEP_UP_MAX_AGE)")
	var typeACR multiFlag
	if v := env("FHIR_REQUIRE_ACR_FOR", ""); v != "" {
		typeACR = strings.Split(v, ",")
	}
	fs.Var(&typeACR, "require-acr-for", "TYPE=ACR: user tokens whose scopes reach this resource type (a wildcard scope reaches every type) need that level, e.g. DocumentReference="+oauth.ACRPhishingResistant+"; repeatable (FHIR_REQUIRE_ACR_FOR, comma separated)")
	fs.StringVar(&c.RequireACR, "require-acr", env("FHIR_REQUIRE_ACR", oauth.ACRTwoFactor), "level every user token needs: "+oauth.ACRTwoFactor+" or "+oauth.ACRPhishingResistant+"; a client's --require-acr may raise it (FHIR_REQUIRE_ACR)")
	fs.IntVar(&c.MFADeferrals, "mfa-deferrals", int(envInt("FHIR_MFA_DEFERRALS", 0)), "times an account without a second factor may put off setting one up at sign-in; 0 means at once (FHIR_MFA_DEFERRALS)")
	fs.IntVar(&c.TrustedDeviceDays, "trusted-device-days", int(envInt("FHIR_TRUSTED_DEVICE_DAYS", 30)), "days a device the user trusts skips the second factor of routine sign-ins (never step-up), 1 to 90 (FHIR_TRUSTED_DEVICE_DAYS)")
	fs.StringVar(&c.AuditKeyFile, "audit-key-file", env("FHIR_AUDIT_KEY_FILE", ""), "Ed25519 key (PEM) that signs audit checkpoints; created when missing; default audit-signing.key in --data (FHIR_AUDIT_KEY_FILE)")
	fs.StringVar(&c.AlertWebhook, "alert-webhook", env("FHIR_ALERT_WEBHOOK", ""), "URL audit alerts are POSTed to (FHIR_ALERT_WEBHOOK, or FHIR_ALERT_WEBHOOK_FILE)")
	fs.StringVar(&c.MessageFile, "message-file", env("FHIR_MESSAGE_FILE", ""), messageFileUsage)
	retention := fs.String("audit-retention", env("FHIR_AUDIT_RETENTION", "6y"), "how long AuditEvents are kept, at least 6y: years (6y), days (2200d) or a duration; older ones are deleted daily (FHIR_AUDIT_RETENTION)")
	labels := fs.String("step-up-labels", env("FHIR_STEP_UP_LABELS", "R,V"), "security labels whose resources need a recent two-factor sign-in: confidentiality codes (R, V) or system|code, comma-separated; none for none (FHIR_STEP_UP_LABELS)")
	proxies := fs.String("trusted-proxies", env("FHIR_TRUSTED_PROXIES", ""), "reverse proxies (CIDRs, comma-separated) whose X-Forwarded-For header names the client's address; empty: the connection's address (FHIR_TRUSTED_PROXIES)")
	tz := fs.String("timezone", env("FHIR_TIMEZONE", "Local"), "time zone of the after-hours alert, the access report's dates and the sign-in risk signals' hours of day, e.g. America/New_York (FHIR_TIMEZONE)")
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return c, nil, fmt.Errorf("--timezone: %w", err)
	}
	c.AlertLocation = loc
	if c.TypeACR, err = parseTypeACR(typeACR); err != nil {
		return c, nil, err
	}
	if c.StepUpLabels, err = consent.ParseLabels(*labels); err != nil {
		return c, nil, fmt.Errorf("--step-up-labels: %w", err)
	}
	if c.TrustedProxies, err = parseCIDRs(*proxies); err != nil {
		return c, nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.AuditRetention, err = parseRetention(*retention); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), c.validate()
}

func (c Config) validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--base-url must be an absolute http(s) URL")
	}
	if c.Addr == "" {
		return fmt.Errorf("--addr is required")
	}
	if c.MongoURI == "" && c.DataDir == "" {
		return fmt.Errorf("--data is required for the embedded store")
	}
	if c.AccessTokenLifetime <= 0 || c.AccessTokenLifetime > time.Hour {
		return fmt.Errorf("--access-token-lifetime must be positive and at most 1h")
	}
	if c.OfflineLifetime < 24*time.Hour {
		return fmt.Errorf("--offline-lifetime must be at least 24h")
	}
	if c.StepUpMaxAge <= 0 {
		return fmt.Errorf("--step-up-max-age must be positive")
	}
	if c.TrustedDeviceDays < 1 || c.TrustedDeviceDays > 90 {
		return fmt.Errorf("--trusted-device-days must be from 1 to 90")
	}
	if c.RequireACR != oauth.ACRTwoFactor && c.RequireACR != oauth.ACRPhishingResistant {
		return fmt.Errorf("--require-acr must be %s or %s: no user token is issued for a password alone", oauth.ACRTwoFactor, oauth.ACRPhishingResistant)
	}
	if c.MFADeferrals < 0 || c.MFADeferrals > 10 {
		return fmt.Errorf("--mfa-deferrals must be from 0 to 10")
	}
	if c.SessionIdle <= 0 || c.SessionMax < c.SessionIdle {
		return fmt.Errorf("--session-idle must be positive and no longer than --session-max")
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("--max-body must be at least 1024 bytes")
	}
	return nil
}

// parseCIDRs reads comma-separated CIDRs; a bare address is one host.
func parseCIDRs(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			ip := net.ParseIP(part)
			if ip == nil {
				return nil, fmt.Errorf("%q is not an address or a CIDR", part)
			}
			bits := 8 * len(ip.To16())
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// parseTypeACR reads --require-acr-for values, TYPE=ACR each.
func parseTypeACR(values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, v := range values {
		typ, acr, ok := strings.Cut(strings.TrimSpace(v), "=")
		if !ok {
			return nil, fmt.Errorf("--require-acr-for %q: give TYPE=ACR", v)
		}
		out[typ] = acr
	}
	if err := oauth.CheckTypeACR(out); err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	return out, nil
}
