<#
.SYNOPSIS
    The SecretsPS benchmark: what `build.ps1 -Task Bench` runs.
.DESCRIPTION
    Builds bench/SecretsPS.Bench (not part of SecretsPS.sln; its own artifacts folder, so it never writes into
    src/*/bin or src/*/obj) and runs it. The benchmark starts its own PostgreSQL (fsync on), fills a table of
    -Rows encrypted OTP-style secrets, and runs each scenario in a child process of its own: Start-Reencryption's
    engine on PostgreSQL and on SQLite (file, WAL), at its defaults (-BatchSize 2000 -CommitEvery 10000) and with
    the original CLI's -BatchSize 500 -CommitEvery 1000, each on a fresh copy and judged against the same targets; the floor (the
    database rewriting the same rows with UPDATE t SET c = c), Fernet per core, and the engine's peak memory at
    100,000 vs 1,000,000 rows (defaults). On PostgreSQL it also runs bench/python_loops.py on the same rows: the original
    CLI's row-by-row loop once and a tuned psycopg2 execute_values loop every round, reported as ratios, and one job
    worked by -ThrottleLimit 1, 2 and 4 workers (the overhead of sharing a job in chunks). It prints
    one table with each target and PASS/MISS, then where the time went. It also starts its own MariaDB
    (tests/servers/mariadb.sh, commits flushed) and judges Start-Reencryption there against 3x its floor (UPDATE t SET
    c = CONCAT('v2', SUBSTRING(c, 3)): InnoDB does not write a row that SET c = c leaves unchanged). A MISS does not fail the run (exit 0);
    an error does. The printed report is also saved to bench/SecretsPS.Bench/artifacts/last-run.txt.
.PARAMETER Rows
    Rows in the PostgreSQL, MariaDB and SQLite tables (10% of them NULL). The targets are set at 300,000.
.PARAMETER Rounds
    Rounds of each database's floor and of Start-Reencryption at its defaults, each pair on fresh copies of the rows
    (default 3). The defaults' targets are judged on the median round: one round can land on a quiet or a busy moment
    of a shared machine.
.PARAMETER Configuration
    Build configuration; the numbers only mean something in Release.
.PARAMETER NoProfile
    Skip the profile runs (one more pass over each database): the engine's former serial loop (read, transform,
    update, commit one after the other) rebuilt from the library's public pieces with a stopwatch per phase. It is
    a phase breakdown, not the current engine, which transforms page N while it writes N-1 and reads N+1.
.PARAMETER Explore
    Also run (information, no target) the engine with -BatchSize 5000 -CommitEvery 20000 on each database, and the
    what-if of commits that do not wait for fsync: the engine at its defaults with PostgreSQL synchronous_commit=off
    (PostgreSQL only; SQLite's PRAGMA synchronous cannot reach the engine's connection from outside the library).
.EXAMPLE
    dotnet pwsh bench/run.ps1 -Rows 100000
#>
[CmdletBinding()]
param(
    [ValidateRange(1000, 50000000)]
    [int] $Rows = 300000,
    [string] $Configuration = 'Release',
    [ValidateRange(1, 20)]
    [int] $Rounds = 3,
    [switch] $NoProfile,
    [switch] $Explore
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'

# The Python comparison (bench/python_loops.py) needs psycopg2 and cryptography in Debian's python3: installed the way
# .ci/run installs packages; without them the benchmark skips the Python rows and says so.
if ($IsLinux -and (Test-Path /usr/bin/python3)) {
    & /usr/bin/python3 -c 'import psycopg2, cryptography' 2>$null
    if ($LASTEXITCODE -ne 0 -and (Get-Command apt-get -ErrorAction Ignore)) {
        $aptGet = if ((id -u) -eq '0') { @('apt-get') } else { @('sudo', 'apt-get') }
        $env:DEBIAN_FRONTEND = 'noninteractive'
        & $aptGet[0] @($aptGet | Select-Object -Skip 1) update -qq
        & $aptGet[0] @($aptGet | Select-Object -Skip 1) install -y -qq --no-install-recommends python3-psycopg2 python3-cryptography
        if ($LASTEXITCODE -ne 0) { Write-Warning 'Installing python3-psycopg2 failed: the Python comparison rows will be skipped.' }
    }
}

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
$benchArgs = @('run', '--rows', "$Rows", '--rounds', "$Rounds", '--report', (Join-Path $artifacts 'last-run.txt'))
if ($NoProfile) { $benchArgs += '--no-profile' }
if ($Explore) { $benchArgs += '--explore' }
dotnet $dll @benchArgs
exit $LASTEXITCODE
