package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// EnvPrefix starts every environment variable that overrides a key: http.port is DISPATCHHUB_HTTP_PORT.
const EnvPrefix = "DISPATCHHUB_"

// DefaultFile is the configuration file read when none is named.
const DefaultFile = "configs/dispatchhub.yaml"

// Options says where Load reads from.
type Options struct {
	// File is the YAML file to read. Empty means DefaultFile, which may be absent;
	// a named file must exist.
	File string
	// Environ is the environment, as os.Environ returns it. Nil means os.Environ().
	Environ []string
	// Flags holds the flags registered by RegisterFlags; only flags set on the command line count.
	Flags *pflag.FlagSet
}

// FieldError is a configuration value that is not allowed. Its message names the key,
// what is allowed and the value: "http.port: must be 1-65535, got 0".
type FieldError struct {
	Key     string
	Allowed string
	Value   string
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Key, e.Allowed)
	}
	return fmt.Sprintf("%s: %s, got %s", e.Key, e.Allowed, e.Value)
}

// Errors is every invalid key found; its message has one line per key.
type Errors []error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each FieldError.
func (es Errors) Unwrap() []error { return es }

type field struct {
	key   string
	index []int
	typ   reflect.Type
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[ByteSize]()
)

// fields lists every leaf key of Config in declaration order.
func fields() []field {
	var out []field
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("koanf")
			if name == "" {
				continue
			}
			idx := append(append([]int(nil), index...), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+name+".", idx)
				continue
			}
			out = append(out, field{key: prefix + name, index: idx, typ: f.Type})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// Keys returns every configuration key, in declaration order.
func Keys() []string {
	fs := fields()
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	return keys
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Flat returns the configuration as key → value, values in their YAML spelling.
func (c Config) Flat() map[string]any {
	v := reflect.ValueOf(c)
	out := make(map[string]any)
	for _, f := range fields() {
		out[f.key] = render(v.FieldByIndex(f.index))
	}
	return out
}

func render(v reflect.Value) any {
	switch v.Type() {
	case durationType:
		return time.Duration(v.Int()).String()
	case sizeType:
		return ByteSize(v.Int()).String()
	}
	if v.Kind() == reflect.Slice {
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = v.Index(i).Interface()
		}
		return out
	}
	return v.Interface()
}

// RegisterFlags adds one flag per key (--http.port, --postgres.url, ...) to fs.
func RegisterFlags(fs *pflag.FlagSet) {
	flat := Default().Flat()
	for _, f := range fields() {
		def := flat[f.key]
		if s, ok := def.([]any); ok {
			parts := make([]string, len(s))
			for i, p := range s {
				parts[i] = fmt.Sprint(p)
			}
			def = strings.Join(parts, ",")
		}
		fs.String(f.key, fmt.Sprint(def), "config "+f.key+" (env "+EnvName(f.key)+")")
		if f.typ.Kind() == reflect.Bool {
			fs.Lookup(f.key).NoOptDefVal = "true" // --dev means --dev=true
		}
	}
}

// Load reads the configuration from defaults, the file, the environment and flags, in
// that order of precedence, then validates it.
func Load(o Options) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(Default().Flat(), "."), nil); err != nil {
		return Config{}, fmt.Errorf("load defaults: %w", err)
	}

	path, explicit := o.File, o.File != ""
	if !explicit {
		path = DefaultFile
	}
	if _, err := os.Stat(path); err == nil {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	} else if explicit {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}

	known := make(map[string]field)
	envKeys := make(map[string]string)
	for _, f := range fields() {
		known[f.key] = f
		envKeys[EnvName(f.key)] = f.key
	}
	environ := o.Environ
	if environ == nil {
		environ = os.Environ()
	}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if key, ok := envKeys[name]; ok {
			if err := k.Set(key, value); err != nil {
				return Config{}, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	if o.Flags != nil {
		var ferr error
		o.Flags.Visit(func(fl *pflag.Flag) {
			if _, ok := known[fl.Name]; ok && ferr == nil {
				ferr = k.Set(fl.Name, fl.Value.String())
			}
		})
		if ferr != nil {
			return Config{}, ferr
		}
	}

	var errs Errors
	unknown := make([]string, 0)
	for _, key := range k.Keys() {
		if _, ok := known[key]; !ok {
			unknown = append(unknown, key)
		}
	}
	sort.Strings(unknown)
	for _, key := range unknown {
		errs = append(errs, &FieldError{Key: key, Allowed: "unknown key (see " + DefaultFile + " for the keys)"})
	}

	var cfg Config
	root := reflect.ValueOf(&cfg).Elem()
	for _, f := range fields() {
		if err := decode(k.Get(f.key), root.FieldByIndex(f.index), f.key); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return Config{}, errs
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func decode(raw any, dst reflect.Value, key string) error {
	got := func() string { return strconv.Quote(fmt.Sprint(raw)) }
	str, isStr := raw.(string)
	switch {
	case dst.Type() == durationType:
		if !isStr {
			return &FieldError{Key: key, Allowed: "must be a duration such as 500ms, 10s or 1m30s", Value: got()}
		}
		d, err := time.ParseDuration(strings.TrimSpace(str))
		if err != nil {
			return &FieldError{Key: key, Allowed: "must be a duration such as 500ms, 10s or 1m30s", Value: got()}
		}
		dst.SetInt(int64(d))
	case dst.Type() == sizeType:
		n, err := ParseByteSize(fmt.Sprint(raw))
		if err != nil {
			return &FieldError{Key: key, Allowed: "must be a size such as 65536, 64KiB or 4MiB", Value: got()}
		}
		dst.SetInt(int64(n))
	case dst.Kind() == reflect.String:
		switch raw.(type) {
		case map[string]any, []any:
			return &FieldError{Key: key, Allowed: "must be a string", Value: got()}
		}
		dst.SetString(fmt.Sprint(raw))
	case dst.Kind() == reflect.Bool:
		switch v := raw.(type) {
		case bool:
			dst.SetBool(v)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return &FieldError{Key: key, Allowed: "must be true or false", Value: got()}
			}
			dst.SetBool(b)
		default:
			return &FieldError{Key: key, Allowed: "must be true or false", Value: got()}
		}
	case dst.Kind() == reflect.Int || dst.Kind() == reflect.Int64:
		n, err := toInt(raw)
		if err != nil {
			return &FieldError{Key: key, Allowed: "must be an integer", Value: got()}
		}
		dst.SetInt(n)
	case dst.Kind() == reflect.Float64:
		var f float64
		var err error
		switch v := raw.(type) {
		case float64:
			f = v
		case int:
			f = float64(v)
		case int64:
			f = float64(v)
		case string:
			f, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
		default:
			f, err = strconv.ParseFloat(fmt.Sprint(raw), 64)
		}
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return &FieldError{Key: key, Allowed: "must be a number", Value: got()}
		}
		dst.SetFloat(f)
	case dst.Kind() == reflect.Slice && dst.Type().Elem().Kind() == reflect.String:
		var items []string
		switch v := raw.(type) {
		case nil:
		case []any:
			for _, it := range v {
				items = append(items, fmt.Sprint(it))
			}
		case []string:
			items = v
		case string:
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					items = append(items, p)
				}
			}
		default:
			return &FieldError{Key: key, Allowed: "must be a list of strings", Value: got()}
		}
		dst.Set(reflect.ValueOf(items))
	default:
		return errors.New(key + ": unsupported configuration type " + dst.Type().String())
	}
	return nil
}

func toInt(raw any) (int64, error) {
	switch v := raw.(type) {
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case uint64:
		if v > 1<<62 {
			return 0, errors.New("too large")
		}
		return int64(v), nil
	case float64:
		if v != float64(int64(v)) {
			return 0, errors.New("not integral")
		}
		return int64(v), nil
	case string:
		return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	}
	return 0, errors.New("not a number")
}
