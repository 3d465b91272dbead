using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace SecretsPS.Loading;

/// <summary>
/// The module's private load context. SecretsPS.Core and every third-party assembly it needs load here
/// from the Dependencies folder, so another module's SqlClient or Npgsql in the same session can neither
/// break SecretsPS nor be broken by it (PowerShell's doc "Resolving PowerShell module assembly
/// dependency conflicts"). It also picks the platform build of an assembly from runtimes/ and the
/// native libraries PowerShell itself would not find, because PowerShell ignores a module's deps.json.
/// </summary>
internal sealed class DependencyLoadContext : AssemblyLoadContext
{
    private readonly string _folder;

    public DependencyLoadContext(string folder) : base("SecretsPS", isCollectible: false)
    {
        _folder = folder;
    }

    // Built once, thread-safely (Lazy's default mode), and only read after: every runspace's load asks it.
    private static readonly Lazy<HashSet<string>> FrameworkAssemblies = new(() =>
    {
        var runtimeFolder = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return Directory.EnumerateFiles(runtimeFolder, "*.dll")
            .Select(Path.GetFileNameWithoutExtension)
            .OfType<string>()
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
    });

    /// <summary>
    /// The framework's copy serves a request only if it is at least the version asked for: on .NET 8 (PowerShell 7.4),
    /// System.Security.Cryptography.Pkcs 9 asks for System.Formats.Asn1 9.0 while the runtime has 8.0, which the default
    /// context would refuse; the package's copy in Dependencies answers then.
    /// </summary>
    private static bool FrameworkServes(AssemblyName requested)
    {
        if (requested.Name is not { } name || !FrameworkAssemblies.Value.Contains(name)) return false;
        if (requested.Version is null) return true;
        var runtimeFolder = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        try
        {
            return AssemblyName.GetAssemblyName(Path.Combine(runtimeFolder, name + ".dll")).Version is not { } have || have >= requested.Version;
        }
        catch (Exception e) when (e is IOException or BadImageFormatException)
        {
            return true;
        }
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // The framework's own assemblies (System.*) come from the runtime, never from an older package copy.
        if (FrameworkServes(assemblyName)) return null;
        var file = assemblyName.Name + ".dll";
        // A satellite (SecretsPS.Core.resources, culture pt-BR) sits in its culture's folder, as publish lays it out;
        // answered here so that it loads beside its parent in this context, not wherever the runtime's fallback would look.
        if (!string.IsNullOrEmpty(assemblyName.CultureName))
        {
            var satellite = Path.Combine(_folder, assemblyName.CultureName, file);
            return File.Exists(satellite) ? LoadFromAssemblyPath(satellite) : null;
        }
        // The platform build first: a package's lib/ copy can be a stub that throws PlatformNotSupportedException.
        var platform = OperatingSystem.IsWindows() ? "win" : "unix";
        foreach (var candidate in new[]
                 {
                     Path.Combine(_folder, "runtimes", platform, "lib", "net8.0", file),
                     Path.Combine(_folder, file),
                 })
        {
            if (File.Exists(candidate)) return LoadFromAssemblyPath(candidate);
        }
        // Anything else (the framework, System.Management.Automation) comes from the default context.
        return null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        foreach (var candidate in NativeCandidates(unmanagedDllName))
        {
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        }
        return IntPtr.Zero;
    }

    private IEnumerable<string> NativeCandidates(string name)
    {
        var arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        string os;
        string[] files;
        if (OperatingSystem.IsWindows()) { os = "win"; files = new[] { name + ".dll", name }; }
        else if (OperatingSystem.IsMacOS()) { os = "osx"; files = new[] { "lib" + name + ".dylib", name + ".dylib", name }; }
        else
        {
            os = File.Exists("/etc/alpine-release") ? "linux-musl" : "linux";
            files = new[] { "lib" + name + ".so", name + ".so", name };
        }
        foreach (var rid in new[] { $"{os}-{arch}", $"{(os == "linux-musl" ? "linux" : os)}-{arch}" }.Distinct())
        {
            foreach (var f in files)
            {
                yield return Path.Combine(_folder, "runtimes", rid, "native", f);
            }
        }
        foreach (var f in files) yield return Path.Combine(_folder, f);
    }
}
