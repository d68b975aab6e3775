package oauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// softKey is a software WebAuthn authenticator for the tests: what a
// browser and a platform authenticator do together, built by hand (an
// ES256 key, authenticatorData, clientDataJSON, attestation "none"), so
// that each part can be made wrong on purpose.
type softKey struct {
	t          *testing.T
	priv       *ecdsa.PrivateKey
	credID     []byte
	userHandle []byte
	count      uint32
	rpID       string // the RP ID whose hash the authenticator data carries
	origin     string // the origin the "browser" writes in clientDataJSON
	synced     bool   // backup eligible and backed up (BE, BS)
	noUV       bool   // leave out user verification
}

// Authenticator data flags.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func newSoftKey(t *testing.T, rpID, origin string) *softKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &softKey{t: t, priv: priv, credID: id, rpID: rpID, origin: origin}
}

var b64 = base64.RawURLEncoding

func (k *softKey) flags() byte {
	f := byte(flagUP)
	if !k.noUV {
		f |= flagUV
	}
	if k.synced {
		f |= flagBE | flagBS
	}
	return f
}

func (k *softKey) authData(extra byte, attested []byte) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	var buf bytes.Buffer
	buf.Write(rp[:])
	buf.WriteByte(k.flags() | extra)
	binary.Write(&buf, binary.BigEndian, k.count)
	buf.Write(attested)
	return buf.Bytes()
}

func (k *softKey) clientData(typ, challenge string) []byte {
	data, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return data
}

// create answers credential creation options (the server's JSON) as
// navigator.credentials.create would, attestation "none".
func (k *softKey) create(options []byte) []byte {
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &opts); err != nil {
		k.t.Fatalf("creation options: %v\n%s", err, options)
	}
	handle, err := b64.DecodeString(opts.PublicKey.User.ID)
	if err != nil {
		k.t.Fatal(err)
	}
	k.userHandle = handle
	x, y := k.priv.PublicKey.X.FillBytes(make([]byte, 32)), k.priv.PublicKey.Y.FillBytes(make([]byte, 32))
	// COSE_Key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
	cose := cborMap(cborInt(1), cborInt(2), cborInt(3), cborInt(-7), cborInt(-1), cborInt(1),
		cborInt(-2), cborBytes(x), cborInt(-3), cborBytes(y))
	var attested bytes.Buffer
	attested.Write(make([]byte, 16)) // AAGUID: none given
	binary.Write(&attested, binary.BigEndian, uint16(len(k.credID)))
	attested.Write(k.credID)
	attested.Write(cose)
	authData := k.authData(flagAT, attested.Bytes())
	attObj := cborMap(cborText("fmt"), cborText("none"), cborText("attStmt"), cborMap(), cborText("authData"), cborBytes(authData))
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.credID), "rawId": b64.EncodeToString(k.credID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", opts.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal"},
		},
	})
	return out
}

// get answers assertion options as navigator.credentials.get would,
// with this key's next sign count.
func (k *softKey) get(options []byte) []byte {
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &opts); err != nil {
		k.t.Fatalf("assertion options: %v\n%s", err, options)
	}
	k.count++
	return k.assert(opts.PublicKey.Challenge, k.credID, k.userHandle)
}

// assert signs an assertion for any challenge, credential id and user
// handle.
func (k *softKey) assert(challenge string, credID, userHandle []byte) []byte {
	authData := k.authData(0, nil)
	cd := k.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, authData...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(credID), "rawId": b64.EncodeToString(credID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(userHandle),
		},
	})
	return out
}

// A little CBOR (RFC 8949), as much as attestation "none" needs.
func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 1<<8:
		return []byte{major<<5 | 24, byte(n)}
	case n < 1<<16:
		return []byte{major<<5 | 25, byte(n >> 8), byte(n)}
	default:
		return []byte{major<<5 | 26, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
}

func cborInt(v int) []byte {
	if v < 0 {
		return cborHead(1, uint64(-1-v))
	}
	return cborHead(0, uint64(v))
}

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }
func cborText(s string) []byte  { return append(cborHead(3, uint64(len(s))), s...) }

// cborMap takes keys and values in turn, already encoded, in the order
// given (canonical order for the maps used here).
func cborMap(kv ...[]byte) []byte {
	out := cborHead(5, uint64(len(kv)/2))
	for _, x := range kv {
		out = append(out, x...)
	}
	return out
}
