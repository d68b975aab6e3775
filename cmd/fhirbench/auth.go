package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/oncofhir/oncofhir/cmd/fhirbench/backendauth"
)

// authConfig is the SMART backend client the tool authenticates as; an
// empty clientID means none.
type authConfig struct {
	clientID string
	keyFile  string
	scope    string
	// For tests: the clock and renewal threshold of the token source
	// (nil and 0: the real clock and backendauth.DefaultRenewBefore).
	now         func() time.Time
	renewBefore time.Duration
}

// noTokenError is a failure to obtain an access token.
type noTokenError struct{ err error }

func (e *noTokenError) Error() string { return "getting an access token: " + e.err.Error() }
func (e *noTokenError) Unwrap() error { return e.err }

// authenticate makes c send the bearer token of a SMART backend client,
// found through the server's smart-configuration. It gets the first token
// at once, so that a client or key the server does not know stops the
// tool before anything is sent to the FHIR API.
func (c *client) authenticate(ctx context.Context, a authConfig) error {
	key, err := backendauth.LoadKey(a.keyFile)
	if err != nil {
		return fmt.Errorf("-key: %w", err)
	}
	tokenURL, err := backendauth.Discover(ctx, c.http, c.base)
	if err != nil {
		return err
	}
	src, err := backendauth.NewSource(backendauth.Config{
		ClientID: a.clientID, Key: key, TokenURL: tokenURL, Scope: a.scope,
		HTTP: c.http, Now: a.now, RenewBefore: a.renewBefore,
	})
	if err != nil {
		return err
	}
	if _, err := src.Token(ctx); err != nil {
		return &noTokenError{err}
	}
	c.auth = src
	return nil
}

// authFailure says whether err means the run cannot go on: the FHIR API
// answered 401, or no access token could be had.
func authFailure(err error) bool {
	var se *statusError
	var nt *noTokenError
	return errors.As(err, &se) && se.status == http.StatusUnauthorized || errors.As(err, &nt)
}

// explainAuth says what to do about an authentication failure; other
// errors pass unchanged.
func explainAuth(err error, a authConfig) error {
	if !authFailure(err) {
		return err
	}
	var nt *noTokenError
	var te *backendauth.TokenError
	switch {
	case a.clientID == "":
		return fmt.Errorf("the server asks for an access token (401 Unauthorized); %s\n(%w)", backendauth.HowToRegister("fhirbench"), err)
	case errors.As(err, &te) && te.Code == "invalid_client":
		return fmt.Errorf("client %s: %w\nIs it registered with the public key of %s? To start afresh, %s",
			a.clientID, err, a.keyFile, backendauth.HowToRegister("fhirbench"))
	case errors.As(err, &nt):
		return fmt.Errorf("client %s: %w", a.clientID, err)
	default:
		return fmt.Errorf("the server refused the access token of client %s (401 Unauthorized): was the client removed, or its tokens revoked?\n(%w)", a.clientID, err)
	}
}
