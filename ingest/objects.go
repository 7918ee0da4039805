package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ObjectStore keeps payloads too large to inline in PostgreSQL. Put must be durable when it
// returns: the webhook is acknowledged after the row that references the object commits.
type ObjectStore interface {
	Put(ctx context.Context, key string, data []byte) (ref string, err error)
	Get(ctx context.Context, ref string) ([]byte, error)
}

// DirStore is an ObjectStore on the local filesystem: objects are files under a directory,
// written to a temporary name, fsynced, renamed into place and their directory fsynced.
type DirStore struct{ dir string }

var _ ObjectStore = (*DirStore)(nil)

// NewDirStore creates the directory if needed.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("object dir: %w", err)
	}
	return &DirStore{dir: dir}, nil
}

const dirRefPrefix = "dir:"

// Put writes data under {dir}/{yyyy}/{mm}/{dd}/{key} and returns "dir:{yyyy}/{mm}/{dd}/{key}".
func (d *DirStore) Put(_ context.Context, key string, data []byte) (string, error) {
	if key == "" || strings.ContainsAny(key, `/\`) || strings.HasPrefix(key, ".") {
		return "", errors.New("object key must be a plain file name")
	}
	rel := filepath.Join(time.Now().UTC().Format("2006/01/02"), key)
	path := filepath.Join(d.dir, rel)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("object dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+key+".tmp*")
	if err != nil {
		return "", fmt.Errorf("object create: %w", err)
	}
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("object write: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("object rename: %w", err)
	}
	if df, err := os.Open(dir); err == nil {
		serr := df.Sync()
		_ = df.Close()
		if serr != nil {
			return "", fmt.Errorf("object dir sync: %w", serr)
		}
	}
	return dirRefPrefix + filepath.ToSlash(rel), nil
}

// Get reads an object back by its reference.
func (d *DirStore) Get(_ context.Context, ref string) ([]byte, error) {
	rel, ok := strings.CutPrefix(ref, dirRefPrefix)
	if !ok || strings.Contains(rel, "..") {
		return nil, fmt.Errorf("object ref %q: not a dir: reference", ref)
	}
	return os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(rel)))
}
