package event

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
)

// Limits on extension attributes, the attributes CloudEvents lets a
// producer add of its own (a tenant, a partition key, dataschema). They keep
// the NATS headers that carry them small.
const (
	MaxExtensions           = 16
	MaxExtensionNameLength  = 64
	MaxExtensionValueLength = 256
)

// ReasonInvalidExtension is the reason of an extension attribute Zenith
// cannot carry.
const ReasonInvalidExtension = "invalid_extension"

// Extension is one extension attribute of an event. Zenith carries it from
// the producer to the sinks as a string, as CloudEvents binary mode does, so
// 42 and "42" arrive alike; rules do not read it.
type Extension struct {
	Name  string
	Value string
}

// validExtensionName reports whether name can name an extension attribute:
// lower-case ASCII letters and digits, as CloudEvents requires, and not the
// name of an attribute Zenith reads itself.
func validExtensionName(name string) bool {
	if name == "" || len(name) > MaxExtensionNameLength || isCoreAttribute(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// isCoreAttribute reports whether name is an attribute Zenith reads itself.
func isCoreAttribute(name string) bool {
	switch name {
	case "specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data":
		return true
	}
	return false
}

// extensionNameProblem says what an extension attribute's name must be.
var extensionNameProblem = fmt.Sprintf(
	"is not an attribute Zenith knows, and an extension attribute's name must be 1-%d lower-case letters and digits",
	MaxExtensionNameLength)

// validateExtensions checks e's extension attributes: how many, their
// names, sorted and each given once, and their values.
func validateExtensions(exts []Extension) error {
	if len(exts) > MaxExtensions {
		return codedErr("body", ReasonInvalidExtension, "has %d extension attributes, more than %d", len(exts), MaxExtensions)
	}
	for i, x := range exts {
		if !validExtensionName(x.Name) {
			return codedErr(attributeName(x.Name), ReasonInvalidExtension, "%s", extensionNameProblem)
		}
		if i > 0 && exts[i-1].Name == x.Name {
			return codedErr(x.Name, ReasonDuplicateKey, "is given twice")
		}
		if err := validateText(x.Name, x.Value, MaxExtensionValueLength); err != nil {
			err.Code = ReasonInvalidExtension
			return err
		}
		if x.Name == "dataschema" && !absoluteURI(x.Value) {
			return codedErr(x.Name, ReasonInvalidExtension, "must be an absolute URI")
		}
	}
	return nil
}

func absoluteURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs()
}

func sortExtensions(exts []Extension) {
	slices.SortStableFunc(exts, func(a, b Extension) int { return cmp.Compare(a.Name, b.Name) })
}

// extensionsFromHeader reads the extension attributes among the ce-*
// headers of h, sorted by name. A header given twice is refused: which value
// is meant cannot be told.
func extensionsFromHeader(h nats.Header) ([]Extension, error) {
	var exts []Extension
	for key, values := range h {
		if len(key) < len(cePrefix) || !strings.EqualFold(key[:len(cePrefix)], cePrefix) {
			continue
		}
		name := strings.ToLower(key[len(cePrefix):])
		if name != "data" && isCoreAttribute(name) {
			continue
		}
		if len(values) != 1 {
			return nil, codedErr(cePrefix+name, ReasonDuplicateKey, "is given twice")
		}
		if !validExtensionName(name) {
			return nil, codedErr(attributeName(cePrefix+name), ReasonInvalidExtension, "%s", extensionNameProblem)
		}
		exts = append(exts, Extension{Name: name, Value: values[0]})
	}
	sortExtensions(exts)
	return exts, nil
}
