/// The version recorded in sessions and printed by `--version`.
public enum SoftwareVersion {
    public static let current = "0.2.0"
}
