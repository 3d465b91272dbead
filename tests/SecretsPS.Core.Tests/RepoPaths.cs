namespace SecretsPS.Core.Tests;

/// <summary>Finds the repository (the folder holding SecretsPS.sln) and the test data inside it.</summary>
internal static class RepoPaths
{
    private const string SolutionFile = "SecretsPS.sln";

    private static readonly Lazy<string> Root = new(FindRoot);

    public static string RepoRoot => Root.Value;

    /// <summary>The Fernet spec's public test vectors, kept in the repository (tests/vectors/fernet).</summary>
    public static string FernetVectors => Path.Combine(RepoRoot, "tests", "vectors", "fernet");

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
