package usage

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// ParseEnv reads a T from the environment with opts, as env.ParseAs does,
// but its errors name the environment variable at fault, such as
// `INGESTOR_KEY_REVALIDATE: unable to parse duration: …`, rather than the Go
// field behind it, which someone setting the variable cannot know.
func ParseEnv[T any](opts env.Options) (T, error) {
	cfg, err := env.ParseAsWithOptions[T](opts)
	if err == nil {
		return cfg, nil
	}
	return cfg, nameVariables(err, reflect.TypeFor[T]())
}

// nameVariables rewrites the parse errors in err to name variables.
func nameVariables(err error, t reflect.Type) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	named := make([]error, len(agg.Errors))
	for i, e := range agg.Errors {
		named[i] = e
		var pe env.ParseError
		if errors.As(e, &pe) {
			if key := variableOf(t, pe.Name); key != "" {
				named[i] = fmt.Errorf("%s: %w", key, pe.Err)
			}
		}
	}
	return errors.Join(named...)
}

// variableOf returns the variable the field named field of struct type t,
// or of a struct within it, is read from; empty when there is none.
func variableOf(t reflect.Type, field string) string {
	if t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == field {
			key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			return f.Tag.Get("envPrefix") + key
		}
		if f.Type.Kind() == reflect.Struct {
			if key := variableOf(f.Type, field); key != "" {
				return f.Tag.Get("envPrefix") + key
			}
		}
	}
	return ""
}
