// Package workload builds the events and rule sets Zenith's rule benchmarks
// run: the rules package's own benchmarks and the side-by-side benchmark
// against other Go rule engines (tools/peerbench). Everything it returns is
// deterministic, so that every run and every engine sees the same work.
package workload

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/zenith-hq/zenith/pkg/rules"
)

// EventType is the type of the benchmark event.
const EventType = "purchase.completed"

// Event returns a purchase event of about 1 KiB with the fields the rules
// read early in it, as producers usually send them.
func Event() []byte {
	return []byte(`{"id":"evt_01HZX3K9QW8R2M5T7V4N6P1B3C","type":"purchase.completed","amount":742.5,"currency":"EUR","gift":false,` +
		`"user":{"id":"u_88213","segment":"VIP","country":"FR","email":"claire.dubois@example.com","tags":["early-adopter","newsletter","b2b"],"signup":"2021-03-14T09:12:44Z"},` +
		`"payment":{"method":"card","brand":"visa","last4":"4242","3ds":true,"installments":1},` +
		`"shipping":{"method":"express","address":{"city":"Lyon","postcode":"69002","country":"FR","line1":"12 rue de la R\u00e9publique"}},` +
		`"device":{"os":"iOS","version":"17.4.1","app":"shop-ios/5.12.0","locale":"fr-FR"},` +
		`"items":[{"sku":"TSHIRT-M-BLK","name":"T-shirt noir M","qty":2,"price":19.9},{"sku":"HOODIE-L-GRY","name":"Hoodie gris L","qty":1,"price":59.0},` +
		`{"sku":"CAP-ONE-RED","name":"Casquette rouge","qty":1,"price":24.5},{"sku":"SOCKS-42-WHT","name":"Chaussettes blanches","qty":3,"price":7.5},` +
		`{"sku":"JACKET-M-NVY","name":"Veste marine M","qty":1,"price":596.1}],` +
		`"ts":1718012345123,"session":"s_9f8e7d6c5b4a","ip":"203.0.113.42","coupon":null}`)
}

// LateEvent returns the same event with the fields the rules read after
// the items, the worst place for a reader that stops early.
func LateEvent() []byte {
	ev := string(Event())
	start := strings.Index(ev, `"amount"`)
	end := strings.Index(ev, `"items"`)
	moved := ev[start:end]
	ev = ev[:start] + ev[end:]
	return []byte(strings.TrimSuffix(ev, "}") + "," + strings.TrimSuffix(moved, ",") + "}")
}

// SeedRule returns the rule of the original design: a VIP purchase over
// 500. It matches Event.
func SeedRule() rules.Rule {
	return rule("vip-purchase", 0, `{"all":[
		{"field":"amount","operator":">","value":500},
		{"field":"user.segment","operator":"==","value":"VIP"}]}`)
}

// field is a path the mixed rules read, the event's value there and other
// values it could have.
type field struct {
	path    string
	numeric bool
	got     any
	others  []any
}

var fields = []field{
	{"amount", true, 742.5, nil},
	{"payment.installments", true, 1, nil},
	{"currency", false, "EUR", []any{"USD", "GBP", "CHF", "JPY", "SEK"}},
	{"gift", false, false, []any{true}},
	{"user.segment", false, "VIP", []any{"new", "regular", "churn-risk", "staff"}},
	{"user.country", false, "FR", []any{"DE", "IT", "ES", "US", "GB", "NL", "BE"}},
	{"payment.method", false, "card", []any{"paypal", "sepa", "klarna", "apple-pay"}},
	{"payment.brand", false, "visa", []any{"mastercard", "amex", "cb"}},
	{"payment.3ds", false, true, []any{false}},
	{"shipping.method", false, "express", []any{"standard", "pickup", "locker"}},
	{"shipping.address.city", false, "Lyon", []any{"Paris", "Lille", "Nantes", "Berlin", "Milan"}},
	{"shipping.address.country", false, "FR", []any{"DE", "IT", "ES", "BE", "CH"}},
	{"device.os", false, "iOS", []any{"Android", "Windows", "macOS", "Linux"}},
	{"device.locale", false, "fr-FR", []any{"en-US", "de-DE", "it-IT", "es-ES"}},
}

// Mixed returns n rules of the shapes operators write, over 14 fields up
// to three levels deep: two to four conditions each, a third of them
// numeric, the others ==, != and in, some inside any or not. The rules at
// every twentieth position match Event; the others do not.
func Mixed(n int) []rules.Rule {
	r := rand.New(rand.NewPCG(1, 2))
	list := make([]rules.Rule, n)
	for i := range list {
		holds := i%20 == 7
		list[i] = rule(fmt.Sprintf("mixed-%03d", i), i%5, mixedCondition(r, holds))
	}
	return list
}

// mixedCondition returns an all of two to four conditions that holds for
// Event when holds is set; otherwise one of them fails.
func mixedCondition(r *rand.Rand, holds bool) string {
	n := 2 + r.IntN(3)
	failing := -1
	if !holds {
		failing = r.IntN(n)
	}
	parts := make([]string, n)
	for i := range parts {
		parts[i] = condition(r, i != failing)
	}
	return `{"all":[` + strings.Join(parts, ",") + `]}`
}

// condition returns a condition on a random field that holds for Event or
// not, as asked; one in eight is an any or a not around comparisons.
func condition(r *rand.Rand, holds bool) string {
	switch r.IntN(16) {
	case 0:
		return fmt.Sprintf(`{"any":[%s,%s]}`, comparison(r, false), comparison(r, holds))
	case 1:
		return fmt.Sprintf(`{"not":%s}`, comparison(r, !holds))
	}
	return comparison(r, holds)
}

func comparison(r *rand.Rand, holds bool) string {
	f := fields[r.IntN(len(fields))]
	if r.IntN(10) < 3 {
		f = fields[r.IntN(2)]
	}
	if f.numeric {
		return numeric(r, f, holds)
	}
	other := f.others[r.IntN(len(f.others))]
	switch r.IntN(3) {
	case 0:
		if holds {
			return compare(f.path, "==", f.got)
		}
		return compare(f.path, "==", other)
	case 1:
		if holds {
			return compare(f.path, "!=", other)
		}
		return compare(f.path, "!=", f.got)
	default:
		list := []any{other}
		if len(f.others) > 1 {
			list = append(list, f.others[(r.IntN(len(f.others))+1)%len(f.others)])
		}
		if holds {
			list = append(list, f.got)
		}
		return compare(f.path, "in", list)
	}
}

func numeric(r *rand.Rand, f field, holds bool) string {
	var got float64
	switch v := f.got.(type) {
	case float64:
		got = v
	case int:
		got = float64(v)
	}
	below := got - float64(1+r.IntN(100))
	above := got + float64(1+r.IntN(100))
	if r.IntN(2) == 0 {
		if holds {
			return compare(f.path, ">", below)
		}
		return compare(f.path, ">", above)
	}
	if holds {
		return compare(f.path, "<=", above)
	}
	return compare(f.path, "<=", below)
}

func compare(path, op string, value any) string {
	v, err := json.Marshal(value)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf(`{"field":%q,"operator":%q,"value":%s}`, path, op, v)
}

// Equality returns n rules keyed on the customer's country and the event's
// type field, as a rule set grows when every team adds its own: most are
// user.country == X && type == Y, some add amount > N, some take a list of
// countries, a few have no country. Five of them match Event.
func Equality(n int) []rules.Rule {
	countries := names("C", 199, "FR")
	types := names("type", 49, "purchase.completed")
	list := make([]rules.Rule, 0, n)
	for i := range n {
		country := countries[i%len(countries)]
		typ := types[(i/len(countries)+i)%len(types)]
		// Only the rules below match; keep the others off the event's type.
		if typ == "purchase.completed" {
			typ = types[1]
		}
		var cond string
		switch {
		case i%100 == 99:
			cond = fmt.Sprintf(`{"all":[%s,%s]}`, compare("type", "==", typ), compare("amount", ">", 100+i%900))
		case i%20 == 19:
			in := []string{country, countries[(i+1)%len(countries)], countries[(i+2)%len(countries)]}
			cond = fmt.Sprintf(`{"all":[%s,%s]}`, compare("user.country", "in", in), compare("type", "==", typ))
		case i%10 == 9:
			cond = fmt.Sprintf(`{"all":[%s,%s,%s]}`, compare("user.country", "==", country), compare("type", "==", typ), compare("amount", ">", 100+i%900))
		default:
			cond = fmt.Sprintf(`{"all":[%s,%s]}`, compare("user.country", "==", country), compare("type", "==", typ))
		}
		list = append(list, rule(fmt.Sprintf("eq-%05d", i), 0, cond))
	}
	matching := []string{
		fmt.Sprintf(`{"all":[%s,%s]}`, compare("user.country", "==", "FR"), compare("type", "==", "purchase.completed")),
		fmt.Sprintf(`{"all":[%s,%s,%s]}`, compare("user.country", "==", "FR"), compare("type", "==", "purchase.completed"), compare("amount", ">", 500)),
		fmt.Sprintf(`{"all":[%s,%s]}`, compare("user.country", "in", []string{"DE", "FR", "IT"}), compare("type", "==", "purchase.completed")),
		fmt.Sprintf(`{"all":[%s,%s]}`, compare("type", "==", "purchase.completed"), compare("amount", ">", 700)),
		fmt.Sprintf(`{"all":[%s,%s]}`, compare("user.country", "==", "FR"), compare("type", "==", "purchase.completed")),
	}
	for i, cond := range matching {
		at := (i + 1) * n / (len(matching) + 1)
		list[at] = rule(fmt.Sprintf("eq-%05d", at), 0, cond)
	}
	return list
}

// names returns n made-up names with one real one among them.
func names(prefix string, n int, real string) []string {
	list := []string{real}
	for i := range n {
		list = append(list, fmt.Sprintf("%s%03d", prefix, i))
	}
	return list
}

func rule(name string, priority int, condition string) rules.Rule {
	c, err := rules.ParseCondition([]byte(condition), "condition")
	if err != nil {
		panic(fmt.Sprintf("workload rule %s: %v", name, err))
	}
	return rules.Rule{ID: name, Name: name, Priority: priority, Condition: c}
}
