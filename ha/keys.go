package ha

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// publicKeyPrefix starts the one-line form of a public key.
const publicKeyPrefix = "tcptake-ed25519 "

// GenerateKey writes a new Ed25519 private key to path (PEM, PKCS #8,
// mode 0600; an existing file is not overwritten) and returns its public
// key.
func GenerateKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return pub, nil
}

// LoadKey reads a private key written by GenerateKey. A file that others
// than its owner may read is refused.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	blk, _ := pem.Decode(b[:n])
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("key %s: not a PEM private key (write one with tcptakectl keygen)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key %s: not an Ed25519 key", path)
	}
	return priv, nil
}

// FormatPublicKey returns the one-line text form of a public key:
// "tcptake-ed25519 BASE64".
func FormatPublicKey(pub ed25519.PublicKey) string {
	return publicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey parses the form FormatPublicKey writes.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), publicKeyPrefix)
	if !ok {
		return nil, errors.New(`public key: want "tcptake-ed25519 BASE64" (tcptakectl keygen prints it)`)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("public key: not 32 bytes of base64")
	}
	return ed25519.PublicKey(b), nil
}

// LoadPublicKey takes either a public key line or the path of a file
// holding one.
func LoadPublicKey(arg string) (ed25519.PublicKey, error) {
	if strings.HasPrefix(arg, publicKeyPrefix) {
		return ParsePublicKey(arg)
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return nil, fmt.Errorf("peer key: %w (give the key line or a file holding it)", err)
	}
	return ParsePublicKey(string(b))
}
