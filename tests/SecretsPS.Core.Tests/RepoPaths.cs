namespace SecretsPS.Core.Tests;

/// <summary>Finds the repository (the folder holding SecretsPS.sln) and the shared folder beside it.</summary>
internal static class RepoPaths
{
    private const string SolutionFile = "SecretsPS.sln";

    private static readonly Lazy<string> Root = new(FindRoot);

    public static string RepoRoot => Root.Value;

    /// <summary>
    /// The Fernet spec's vectors: shared/ beside the repository (as in CI), else the byte-identical copy in
    /// tests/vectors, so a clone without shared/ still runs every vector.
    /// </summary>
    public static string FernetVectors
    {
        get
        {
            var shared = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "vectors", "fernet"));
            return Directory.Exists(shared) ? shared : Path.Combine(RepoRoot, "tests", "vectors", "fernet");
        }
    }

    public static string InteropScript => Path.Combine(RepoRoot, "tests", "interop", "secretsps_ref.py");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFile)))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException(
            $"No folder containing {SolutionFile} above {AppContext.BaseDirectory}: run the tests from a build inside the repository.");
    }
}
