package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DevSecret returns the development HS256 secret kept in {dataDir}/dev/jwt.secret and the
// file's absolute path, creating the file (32 random bytes, hex-encoded, mode 0600, directory
// 0700) when it does not exist yet. Like a file:/ secret reference, trailing newlines are not
// part of the secret, so hs256_secret_ref: file:/.../dev/jwt.secret names the same key.
func DevSecret(dataDir string) ([]byte, string, error) {
	path, err := filepath.Abs(filepath.Join(dataDir, "dev", "jwt.secret"))
	if err != nil {
		return nil, "", fmt.Errorf("auth: dev secret: %w", err)
	}
	secret, err := readDevSecret(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return secret, path, err
	}
	if err := createDevSecret(path); err != nil {
		return nil, path, fmt.Errorf("auth: dev secret %s: %w", path, err)
	}
	secret, err = readDevSecret(path)
	return secret, path, err
}

func readDevSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: dev secret: %w", err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < MinHS256SecretLen {
		return nil, fmt.Errorf("auth: dev secret %s: must hold at least %d bytes, got %d (delete it to have a new one made)", path, MinHS256SecretLen, len(b))
	}
	return b, nil
}

// createDevSecret writes a new secret without ever exposing a partly written file: it is
// written to a temporary file and linked into place, and when another process was first,
// its file stays.
func createDevSecret(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".jwt.secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(hex.EncodeToString(raw) + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
