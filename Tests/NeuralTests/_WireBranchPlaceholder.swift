// Placeholder so that SwiftPM accepts the target on branch wire; dropped on merge.
