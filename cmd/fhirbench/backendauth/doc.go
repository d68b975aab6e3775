// Package backendauth is the client side of SMART Backend Services for the
// load tools: a signing key and its public JWKS, the token endpoint found
// in the server's .well-known/smart-configuration, and a Source that
// obtains an access token with a signed client assertion
// (client_credentials, private_key_jwt) and renews it before it expires,
// once for all the goroutines that share it.
//
// Nothing here prints or logs a token or a key, and no error carries one.
package backendauth
