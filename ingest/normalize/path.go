package normalize

import (
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
)

// MaxPathLength bounds a mapping path.
const MaxPathLength = 256

// checkPath reports whether p is a GJSON path that gjson will read as written: not empty, no
// empty components, balanced (), [] and {} with closed quoted strings inside them, escapes
// that escape something, and only modifiers that exist. gjson itself has no compile step
// and reads a malformed path as some other path; this refuses those.
func checkPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if len(p) > MaxPathLength {
		return fmt.Errorf("path longer than %d bytes", MaxPathLength)
	}
	var stack []byte
	componentStart := true
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("control character at byte %d", i)
		}
		switch {
		case c == '\\':
			if i+1 == len(p) {
				return errors.New("trailing escape character")
			}
			i++
			componentStart = false
			continue
		case c == '"' && len(stack) > 0:
			j := i + 1
			for ; j < len(p) && p[j] != '"'; j++ {
				if p[j] == '\\' {
					j++
				}
			}
			if j >= len(p) {
				return fmt.Errorf("unterminated string at byte %d", i)
			}
			i = j
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case c == ')' || c == ']' || c == '}':
			open := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("unbalanced %q at byte %d", c, i)
			}
			stack = stack[:len(stack)-1]
		case (c == '.' || c == '|') && len(stack) == 0:
			if componentStart {
				return fmt.Errorf("empty component at byte %d", i)
			}
			componentStart = true
			continue
		case c == '@' && componentStart:
			j := i + 1
			for j < len(p) && (p[j] == '_' || p[j] >= 'a' && p[j] <= 'z' || p[j] >= 'A' && p[j] <= 'Z' || p[j] >= '0' && p[j] <= '9') {
				j++
			}
			if name := p[i+1 : j]; !gjson.ModifierExists(name, nil) {
				return fmt.Errorf("unknown modifier @%s", name)
			}
			i = j - 1
		}
		componentStart = false
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %q", stack[len(stack)-1])
	}
	if componentStart {
		return errors.New("path ends with a separator")
	}
	return nil
}
