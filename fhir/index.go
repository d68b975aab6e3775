package fhir

// ParamType is the type of a search parameter, as in SearchParameter.type.
type ParamType string

const (
	TypeString    ParamType = "string"
	TypeToken     ParamType = "token"
	TypeReference ParamType = "reference"
	TypeDate      ParamType = "date"
	TypeNumber    ParamType = "number"
	TypeQuantity  ParamType = "quantity"
	TypeURI       ParamType = "uri"
	TypeComposite ParamType = "composite"
	TypeSpecial   ParamType = "special"
)

// IndexEntry is one search index value of a resource version, extracted at
// write time from a SearchParameter's expression. Which fields are set
// depends on Kind:
//
//   - string: Text is the value folded for matching (lower case, accents
//     removed, spaces collapsed); Code is the value as written (for :exact).
//   - token: System and Code; Text is the display or text, folded (for
//     :text). A boolean is Code "true"/"false"; an Identifier's type
//     (for :of-type) is an extra entry with Param "<param>:of-type", System
//     and Code the type coding, Text the identifier value.
//   - reference: Code is "Type/id" for a reference to a resource on this
//     server (System is the Type), or the URL as written otherwise (System
//     empty); Text is the logical identifier value when the reference has
//     one (System then holds its system) — stored as a second entry with
//     Param "<param>:identifier".
//   - uri: Code is the URI as written.
//   - date: Low and High are the instant range the value covers, in Unix
//     milliseconds, High exclusive (a date of precision day covers 24 h;
//     an open Period end is +Inf).
//   - number: Low and High are the range implied by the value's precision
//     (1.5 covers [1.45, 1.55)); Code is the value as written.
//   - quantity: as number, plus System and Code the unit's system and code
//     (or the unit text when there is no code, in Code with System empty).
//   - composite: Parts hold one entry per component, in the order of the
//     SearchParameter's components, each with its own Kind.
type IndexEntry struct {
	Param  string       `json:"p" bson:"p"`
	Kind   ParamType    `json:"k" bson:"k"`
	System string       `json:"s,omitempty" bson:"s,omitempty"`
	Code   string       `json:"c,omitempty" bson:"c,omitempty"`
	Text   string       `json:"t,omitempty" bson:"t,omitempty"`
	Low    float64      `json:"lo,omitempty" bson:"lo,omitempty"`
	High   float64      `json:"hi,omitempty" bson:"hi,omitempty"`
	Parts  []IndexEntry `json:"parts,omitempty" bson:"parts,omitempty"`
}

// Clause is one search criterion over the index entries of Param: a
// resource matches when one of its entries matches one of Values (OR);
// the clauses of a Query must all match (AND). Matching per type and
// modifier (entry e, value v; ranges are [Low, High)):
//
//   - string: e.Text starts with v.Code (v.Code already folded); :exact
//     e.Code == v.Code (as written); :contains e.Text contains v.Code.
//   - token: (v.AnySystem or e.System == v.System) and (v.Code == "" or
//     e.Code == v.Code); :text e.Text starts with v.Code (folded); :not the
//     resource has no entry matching any value (resources without the
//     parameter match); :of-type looks at Param "<param>:of-type" entries:
//     e.System == v.System, e.Code == v.Code and e.Text == v.Text.
//   - reference: e.Code == v.Code (the parser expands a bare id into one
//     value per target type); a value with AnySystem (a bare id on a
//     parameter that may point to any type) matches an entry with System
//     set and Code == System + "/" + v.Code; :identifier looks at
//     "<param>:identifier" entries: e.System == v.System (when set) and
//     e.Text == v.Code.
//   - uri: e.Code == v.Code; :above v.Code starts with e.Code; :below
//     e.Code starts with v.Code.
//   - date, number, quantity, by v.Prefix (empty means eq): eq e.Low >=
//     v.Low and e.High <= v.High; ne not eq; gt e.High > v.High; lt e.Low <
//     v.Low; ge gt or eq; le lt or eq; sa e.Low >= v.High; eb e.High <=
//     v.Low; ap the ranges overlap once v's range is widened by v.Approx on
//     each side. A quantity value with a unit also needs e.Code == v.Code
//     and, when v.System is set, e.System == v.System.
//   - composite: an entry whose Parts each match the value's Parts.
//   - Missing (any type): true matches resources with no entry of Param,
//     false those with at least one; Values is then empty.
type Clause struct {
	Param    string
	Type     ParamType
	Modifier string // "", exact, contains, text, not, of-type, identifier, above, below
	Missing  *bool
	Values   []Value
}

// Value is one alternative of a Clause.
type Value struct {
	Prefix    string // eq ne gt lt ge le sa eb ap, for date, number and quantity
	AnySystem bool   // token "code" (no '|'): any system matches
	System    string
	Code      string
	Text      string
	Low       float64
	High      float64
	Approx    float64 // ap: how far the range is widened on each side
	Parts     []Value // composite
}

// SortKey orders search results by a parameter: ascending by the smallest
// entry value (Text for strings, Code for tokens, references and uris, Low
// for ranges), descending by the largest (High for ranges). Resources
// without the parameter come last either way; ties are broken by type and
// id so that order is stable.
type SortKey struct {
	Param string
	Type  ParamType
	Desc  bool
}
