namespace SecretsPS.Core.Tests;

/// <summary>
/// The suite runs twice: on .NET 10 (PowerShell 7.6's runtime) and on .NET 8 (PowerShell 7.4 LTS's, the oldest the module
/// supports), the latter self-contained. A test host that rolled forward to a newer runtime would prove nothing about .NET 8.
/// </summary>
public class RuntimeTests
{
    [Fact]
    public void The_suite_runs_on_the_runtime_it_was_built_for()
    {
#if NET10_0
        const int expected = 10;
#elif NET8_0
        const int expected = 8;
#else
        const int expected = -1;
#endif
        Assert.Equal(expected, Environment.Version.Major);
    }
}
