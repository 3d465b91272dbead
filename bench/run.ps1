<#
.SYNOPSIS
    The SecretsPS benchmark: what `build.ps1 -Task Bench` runs.
.DESCRIPTION
    Builds bench/SecretsPS.Bench (not part of SecretsPS.sln; its own artifacts folder, so it never writes into
    src/*/bin or src/*/obj) and runs it. The benchmark starts its own PostgreSQL (fsync on), fills a table of
    -Rows encrypted OTP-style secrets, and runs each scenario in a child process of its own: Start-Reencryption's
    engine on PostgreSQL and on SQLite (file, WAL), the floor (the database rewriting the same rows with
    UPDATE t SET c = c), Fernet per core, and the engine's peak memory at 100,000 vs 1,000,000 rows. It prints
    one table with each target and PASS/MISS, then where the time went. A MISS does not fail the run (exit 0);
    an error does. The printed report is also saved to bench/SecretsPS.Bench/artifacts/last-run.txt.
.PARAMETER Rows
    Rows in the PostgreSQL and SQLite tables (10% of them NULL). The targets are set at 300,000.
.PARAMETER Configuration
    Build configuration; the numbers only mean something in Release.
.PARAMETER NoProfile
    Skip the phase-by-phase profile runs (one more pass over each database).
.PARAMETER Explore
    Also run the engine with BatchSize 5000 / CommitEvery 20000 on each database (information, no target).
.EXAMPLE
    dotnet pwsh bench/run.ps1 -Rows 100000
#>
[CmdletBinding()]
param(
    [ValidateRange(1000, 50000000)]
    [int] $Rows = 300000,
    [string] $Configuration = 'Release',
    [switch] $NoProfile,
    [switch] $Explore
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'

$project = Join-Path $PSScriptRoot 'SecretsPS.Bench/SecretsPS.Bench.csproj'
$artifacts = Join-Path $PSScriptRoot 'SecretsPS.Bench/artifacts'
if ($Configuration -ne 'Release') {
    Write-Warning "Building the benchmark in ${Configuration}: its numbers are not comparable with the targets (they are set for Release)."
}

Write-Host "Building the benchmark ($Configuration)…"
dotnet build $project -c $Configuration --artifacts-path $artifacts -nologo -v quiet -clp:NoSummary
if ($LASTEXITCODE -ne 0) {
    Write-Error "Building $project failed (exit $LASTEXITCODE)." -ErrorAction Continue
    exit $LASTEXITCODE
}

$dll = Join-Path $artifacts "bin/SecretsPS.Bench/$($Configuration.ToLowerInvariant())/SecretsPS.Bench.dll"
$benchArgs = @('run', '--rows', "$Rows", '--report', (Join-Path $artifacts 'last-run.txt'))
if ($NoProfile) { $benchArgs += '--no-profile' }
if ($Explore) { $benchArgs += '--explore' }
dotnet $dll @benchArgs
exit $LASTEXITCODE
