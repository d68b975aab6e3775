package synth

import (
	"math/rand/v2"
	"strconv"
)

// Name parts. Every generated name gets a number appended, as Synthea does,
// so that no output can be taken for a real person.
var (
	femaleGiven = []string{
		"Alda", "Brisa", "Calla", "Delphine", "Elowen", "Fenna", "Greer", "Halcy",
		"Ilsabet", "Junia", "Kessa", "Liora", "Maren", "Noelle", "Orla", "Perpetua",
		"Quilla", "Rosalind", "Sabeth", "Talia", "Undine", "Verena", "Wren", "Ysolde",
	}
	maleGiven = []string{
		"Alaric", "Bastien", "Corwin", "Dorian", "Emrys", "Faolan", "Gideon", "Hollis",
		"Ivo", "Jory", "Kestrel", "Lucan", "Merrick", "Nevin", "Osric", "Peregrin",
		"Quill", "Roderic", "Soren", "Tobiah", "Ulric", "Vesper", "Warrick", "Yorick",
	}
	families = []string{
		"Ambercroft", "Brightwater", "Cindervale", "Dunmore", "Elderglen", "Fairbanks",
		"Greythorn", "Hollowell", "Ironwood", "Juniperhill", "Kettlewell", "Larkspur",
		"Marchbank", "Nettlefield", "Oakhurst", "Pennywhistle", "Quenby", "Rookwood",
		"Silverbirch", "Thistlewood", "Underhill", "Vantreeck", "Whitlock", "Yarrowby",
	}
	streets = []string{
		"Quillfeather", "Mossglen", "Lanternfly", "Copperkettle", "Bramblewick",
		"Starling Hollow", "Tidewater Mill", "Hearthstone", "Pippin Orchard", "Wickerbasket",
	}
	streetKinds = []string{"Lane", "Road", "Way", "Court", "Terrace", "Row"}
	towns       = []string{
		"Alderbrook", "Harrowgate Falls", "Fernmoor", "Little Quenby", "Saltmarsh Bay",
		"Westerhollow", "Brackenridge", "Millbrook Crossing",
	}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// tagged appends a number to a name part: "Maren482".
func tagged(r *rand.Rand, s string) string { return s + strconv.Itoa(10+r.IntN(990)) }

func givenName(r *rand.Rand, gender string) string {
	if gender == "female" {
		return tagged(r, pick(r, femaleGiven))
	}
	return tagged(r, pick(r, maleGiven))
}

func familyName(r *rand.Rand) string { return tagged(r, pick(r, families)) }

// clinician is the display name of an invented clinician.
func clinician(r *rand.Rand) string {
	g := "female"
	if r.IntN(2) == 0 {
		g = "male"
	}
	return "Dr. " + givenName(r, g) + " " + familyName(r)
}

// phone is a number in 555-0100..555-0199, the range reserved for fiction.
func phone(r *rand.Rand) string { return "555-01" + twoDigits(r.IntN(100)) }

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func homeAddress(r *rand.Rand) address {
	return address{
		Use:        "home",
		Line:       []string{strconv.Itoa(1+r.IntN(1999)) + " " + pick(r, streets) + " " + pick(r, streetKinds)},
		City:       pick(r, towns),
		State:      "MA",
		PostalCode: "01" + strconv.Itoa(100+r.IntN(900)),
		Country:    "US",
	}
}
