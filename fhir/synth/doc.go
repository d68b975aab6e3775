// Package synth generates synthetic oncology patients as FHIR R4
// transaction Bundles shaped like Synthea's output: one Bundle per patient,
// entries linked by urn:uuid: fullUrls, every entry a POST, and the Patient
// created conditionally on its medical record number (MRN) so that loading
// the same Bundle twice does not duplicate the patient.
//
// Everything is invented: names carry digits (as Synthea's do), streets and
// towns do not exist, phone numbers sit in the 555-01xx range reserved for
// fiction and e-mail addresses under example.org. The clinical content
// (breast, lung and colorectal cancer with their labs, vitals, tumour
// markers, pathology, chemotherapy orders, procedures, care plan, care team,
// appointments, messages and notes) is plausible, not real.
//
// Output is deterministic: the same Options give byte-identical Bundles.
// Each patient draws from its own random stream, derived from the seed and
// the patient's position, so patient i is the same whatever Options.Patients
// is, and Each can stream thousands of patients without holding them.
//
// It imports nothing of this module; it feeds tests, benchmarks and the
// load tool with data that no real person could be recognised in.
package synth
