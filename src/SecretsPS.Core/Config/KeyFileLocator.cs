namespace SecretsPS.Core.Config;

/// <summary>
/// Which key file a command means (docs/cmdlets, every key-file cmdlet's -Path): the explicit path; else
/// $env:SECRETSPS_CONFIG; else ./.env.crypto; else ./instance/.env.crypto (the original Flask CLI used both),
/// whichever exists first. An environment name selects the file's per-environment sibling.
/// </summary>
public static class KeyFileLocator
{
    public const string ConfigVariable = "SECRETSPS_CONFIG";
    public const string DefaultFileName = ".env.crypto";
    private static readonly string[] DefaultCandidates = { DefaultFileName, Path.Combine("instance", DefaultFileName) };

    /// <param name="explicitPath">-Path, already resolved against the caller's current folder, or null.</param>
    /// <param name="environmentName">-Environment (e.g. production), or null.</param>
    /// <param name="currentFolder">The caller's current folder (PowerShell's location, not the process's).</param>
    /// <param name="configVariable">The value of $env:SECRETSPS_CONFIG, or null.</param>
    /// <param name="mustExist">False for commands that create the file.</param>
    public static string Resolve(string? explicitPath, string? environmentName, string currentFolder, string? configVariable, bool mustExist)
    {
        string path;
        if (!string.IsNullOrWhiteSpace(explicitPath))
            path = Path.GetFullPath(explicitPath, currentFolder);
        else if (!string.IsNullOrWhiteSpace(configVariable))
            path = Path.GetFullPath(configVariable, currentFolder);
        else
        {
            path = DefaultCandidates
                .Select(c => Path.Combine(currentFolder, c))
                .FirstOrDefault(c => File.Exists(WithEnvironment(c, environmentName)))
                ?? Path.Combine(currentFolder, DefaultFileName);
        }

        path = WithEnvironment(path, environmentName);
        if (mustExist && !File.Exists(path))
        {
            // A file that was named (-Path, or $env:SECRETSPS_CONFIG) is missing where it was named: say which name was wrong,
            // and never tell to "name it with -Path" a user who did.
            if (!string.IsNullOrWhiteSpace(explicitPath))
                throw new KeyFileException(ErrorIds.KeyFileNotFound, ErrorKind.ObjectNotFound,
                    Localized.Format(Directory.Exists(Path.GetDirectoryName(path)) ? Messages.KeyFileNotFoundAtPath : Messages.KeyFileFolderNotFoundAtPath,
                        path, Path.GetDirectoryName(path)),
                    path);
            if (!string.IsNullOrWhiteSpace(configVariable))
                throw new KeyFileException(ErrorIds.KeyFileNotFound, ErrorKind.ObjectNotFound,
                    Localized.Format(Messages.KeyFileNotFoundAtConfigVariable, path, ConfigVariable),
                    path);
            var searched = string.Join(", ", DefaultCandidates.Select(c => $"'{WithEnvironment(Path.Combine(currentFolder, c), environmentName)}'"));
            throw new KeyFileException(ErrorIds.KeyFileNotFound, ErrorKind.ObjectNotFound,
                Localized.Format(Messages.KeyFileNotFoundSearched, searched, ConfigVariable),
                path);
        }
        return path;
    }

    private static string WithEnvironment(string path, string? environmentName)
    {
        if (string.IsNullOrWhiteSpace(environmentName)) return path;
        if (environmentName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || environmentName.Contains("..", StringComparison.Ordinal))
            throw new SecretsPSException(ErrorIds.EnvironmentNameInvalid, ErrorKind.InvalidArgument,
                Messages.EnvironmentNameInvalid);
        return path + "." + environmentName;
    }
}
