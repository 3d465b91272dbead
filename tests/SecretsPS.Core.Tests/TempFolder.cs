using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace SecretsPS.Core.Tests;

/// <summary>A fresh folder under the system temp folder, removed (with everything in it) on Dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = Directory.CreateTempSubdirectory("secretsps-test-").FullName;
    }

    public string Path { get; }

    public string File(params string[] parts) => System.IO.Path.Combine(new[] { Path }.Concat(parts).ToArray());

    /// <summary>Writes UTF-8 text (no BOM) exactly as given and returns the full path.</summary>
    public string Write(string name, string text)
    {
        var path = File(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllBytes(path, Encoding.UTF8.GetBytes(text));
        return path;
    }

    /// <summary>Every file in the folder (recursively) with its bytes: a snapshot to compare before and after.</summary>
    public IReadOnlyDictionary<string, byte[]> Snapshot() =>
        Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .ToDictionary(f => System.IO.Path.GetRelativePath(Path, f), System.IO.File.ReadAllBytes);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}

/// <summary>
/// A small tmpfs mounted on a folder, for failures a root user cannot get from file modes (a read-only
/// or a full file system). <see cref="TryMount"/> returns null where mounting is not permitted.
/// </summary>
internal sealed class SmallTmpfs : IDisposable
{
    private SmallTmpfs(string path) => Path = path;

    public string Path { get; }

    public static SmallTmpfs? TryMount(string folder, string options, out string reason)
    {
        Directory.CreateDirectory(folder);
        if (OperatingSystem.IsWindows())
        {
            reason = "tmpfs needs Linux";
            return null;
        }

        var (code, output) = Run("mount", "-t", "tmpfs", "-o", options, "tmpfs", folder);
        if (code != 0)
        {
            reason = $"mount -t tmpfs is not permitted here (exit {code}: {output.Trim()})";
            return null;
        }

        reason = string.Empty;
        return new SmallTmpfs(folder);
    }

    public void RemountReadOnly()
    {
        var (code, output) = Run("mount", "-o", "remount,ro", Path);
        if (code != 0) throw new InvalidOperationException($"remount,ro failed: {output}");
    }

    public void Dispose()
    {
        if (Run("umount", Path).Code != 0) Run("umount", "-l", Path);
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) info.ArgumentList.Add(a);
            using var p = Process.Start(info)!;
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}

/// <summary>Key file text for tests: deterministic key and salt bytes per seed, lines as FORMATS.md §1 writes them.</summary>
internal static class KeyFileFixture
{
    public static readonly IReadOnlyDictionary<string, string> NoEnvironment = new Dictionary<string, string>();

    public static byte[] Bytes(int count, int seed) =>
        Enumerable.Range(0, count).Select(i => (byte)(seed * 37 + i * 11 + 5)).ToArray();

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    public static string Line(string name, string value) => $"{name}=\"{value}\"";

    public static string Active(string version) => Line("ACTIVE_ENCRYPTION_VERSION", version);

    /// <summary>The lines of one version: key, salt, salt hash, then KDF and creation time when given.</summary>
    public static List<string> Version(string name, int seed = 1, int keyBytes = 32, int saltBytes = 16,
        string? kdf = "hkdf-sha256", string? created = null)
    {
        var key = Bytes(keyBytes, seed);
        var salt = Bytes(saltBytes, seed + 1000);
        var lines = new List<string>
        {
            Line("ENCRYPTION_KEYS__" + name, Convert.ToBase64String(key)),
            Line("ENCRYPTION_SALT__" + name, Convert.ToBase64String(salt)),
            Line("ENCRYPTION_SALT_HASH__" + name, Sha256Hex(salt)),
        };
        if (kdf is not null) lines.Add(Line("ENCRYPTION_KDF__" + name, kdf));
        if (created is not null) lines.Add(Line("ENCRYPTION_CREATED__" + name, created));
        return lines;
    }

    /// <summary>LF-joined lines with a final line end.</summary>
    public static string Text(IEnumerable<string> lines) => string.Concat(lines.Select(l => l + "\n"));

    /// <summary>A file with the active line followed by each version's lines.</summary>
    public static string FileText(string active, params IEnumerable<string>[] versions) =>
        Text(new[] { Active(active) }.Concat(versions.SelectMany(v => v)));
}
