/// The version of Studio, shown by `studioctl version`, `/healthz` and the broker's `version` answer.
///
/// It must equal the version in `packaging/debian/changelog`; the package build checks this.
public enum StudioVersion {
    /// The release, as in the Debian package version.
    public static let string = "0.1.0"
}
