using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace SecretsPS.Loading;

/// <summary>
/// Hooks the default context's resolution for exactly one name, SecretsPS.Core, and answers it from the
/// module's own context; everything SecretsPS.Core needs then resolves inside that context. Unhooked
/// when the module is removed. SecretsPS.dll's own satellite (pt-BR/SecretsPS.resources.dll beside it) needs no
/// hook: the runtime looks for a satellite in the culture folder beside its parent assembly, wherever that was loaded from
/// (tests/Pester/Localization.Tests.ps1 proves it).
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string CoreAssemblyName = "SecretsPS.Core";

    // One context and one hook for the whole process: SecretsPS.dll is loaded once, however many runspaces import the
    // module (ForEach-Object -Parallel imports it in each, at once). Gate guards both; _imports counts the runspaces that
    // imported it, so the hook goes with the last removal, never while another runspace still uses the module.
    private static readonly object Gate = new();
    private static DependencyLoadContext? _context;
    private static int _imports;

    internal static DependencyLoadContext Context
    {
        get
        {
            lock (Gate)
            {
                if (_context is null)
                {
                    var moduleFolder = Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!;
                    _context = new DependencyLoadContext(Path.Combine(moduleFolder, "Dependencies"));
                }
                return _context;
            }
        }
    }

    public void OnImport()
    {
        lock (Gate)
        {
            if (_imports++ == 0) AssemblyLoadContext.Default.Resolving += ResolveCore;
        }
    }

    public void OnRemove(PSModuleInfo psModuleInfo)
    {
        lock (Gate)
        {
            if (_imports > 0 && --_imports == 0) AssemblyLoadContext.Default.Resolving -= ResolveCore;
        }
    }

    private static Assembly? ResolveCore(AssemblyLoadContext defaultContext, AssemblyName name) =>
        name.Name == CoreAssemblyName ? Context.LoadFromAssemblyName(name) : null;
}
