package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Local files hold env values and job output, so they are the server
// user's alone: folders 0700, files 0600, whatever the umask.
const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600
)

// PrepareDataDir creates dir and its logs and work folders readable by
// this user only, and tightens what an earlier version left open to other
// local users (0755 folders, 0644 database and log files).
func PrepareDataDir(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, "logs"), filepath.Join(dir, "work")} {
		if err := os.MkdirAll(d, dirMode); err != nil {
			return fmt.Errorf("prepare data dir: %w", err)
		}
		if err := tighten(d, dirMode); err != nil {
			return err
		}
	}
	for _, name := range []string{"flotilla.db", "flotilla.db-wal", "flotilla.db-shm", "flotilla.db-journal"} {
		if err := tighten(filepath.Join(dir, name), fileMode); err != nil {
			return err
		}
	}
	logs, err := os.ReadDir(filepath.Join(dir, "logs"))
	if err != nil {
		return fmt.Errorf("prepare data dir: %w", err)
	}
	for _, e := range logs {
		if e.Type().IsRegular() {
			if err := tighten(filepath.Join(dir, "logs", e.Name()), fileMode); err != nil {
				return err
			}
		}
	}
	return nil
}

// tighten removes permission bits beyond mode from path, if it exists.
func tighten(path string, mode fs.FileMode) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prepare data dir: %w", err)
	}
	if st.Mode()&fs.ModeSymlink != 0 || st.Mode().Perm()&^mode == 0 {
		return nil
	}
	if err := os.Chmod(path, st.Mode().Perm()&mode); err != nil {
		return fmt.Errorf("prepare data dir: tighten %s: %w", path, err)
	}
	return nil
}
