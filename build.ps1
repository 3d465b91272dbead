<#
.SYNOPSIS
    Builds, tests and demonstrates SecretsPS.
.DESCRIPTION
    Build : compiles and lays out the importable module in out/SecretsPS (manifest, SecretsPS.dll, help,
            views, and Dependencies/ with SecretsPS.Core and every third-party assembly).
    Test  : Build, then the xunit suite and the Pester suite (in a fresh pwsh), then one line
            "N passed, N failed" and a non-zero exit on any failure.
    Demo  : Build, then the key lifecycle on the embedded default, each command printed before it runs.
    Docs  : turns docs/cmdlets/*.md (PlatyPS layout) into MAML help (part of Build).
    Bench : the benchmark (bench/run.ps1): re-encryption rows/s on PostgreSQL and SQLite against the
            database's own floor, Fernet per core, peak memory; -Rows sets the table size (300,000).
    Fuzz  : the fuzz/property tests with many more cases than the normal suite runs ($env:SECRETSPS_FUZZ_ITERATIONS).
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Demo', 'Docs', 'Bench', 'Fuzz')]
    [string] $Task = 'Build',
    [string] $Configuration = 'Release',
    [int] $Rows = 300000
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$out = Join-Path $root 'out/SecretsPS'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'

function Invoke-Native {
    param([string] $What, [scriptblock] $Command)
    & $Command
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit $LASTEXITCODE)." }
}

function Get-PwshCommand {
    # The pwsh that runs this script (the pinned dotnet tool), started fresh for each suite:
    # a rebuilt module cannot be re-imported into a process that already loaded it.
    $process = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') {
        return @($process, (Join-Path $PSHOME 'pwsh.dll'))
    }
    return @($process)
}

function Invoke-Docs {
    $helpFolder = Join-Path $out 'en-US'
    New-Item -ItemType Directory -Force -Path $helpFolder | Out-Null
    $converter = Join-Path $root 'tools/Convert-MarkdownToMaml.ps1'
    if (Test-Path $converter) {
        & $converter -SourceFolder (Join-Path $root 'docs/cmdlets') -OutputPath (Join-Path $helpFolder 'SecretsPS.dll-Help.xml')
        # pt-BR help: the translated pages of docs/cmdlets/pt-BR, and the English page of every cmdlet not translated yet,
        # so that Get-Help under pt-BR finds every cmdlet (tests/Pester/HelpTranslation.Tests.ps1 checks the pages).
        $translated = Join-Path $root 'docs/cmdlets/pt-BR'
        if (Test-Path $translated) {
            $merged = Join-Path ([IO.Path]::GetTempPath()) ('secretsps-help-pt-BR-' + [guid]::NewGuid().ToString('N'))
            New-Item -ItemType Directory -Path $merged | Out-Null
            try {
                Get-ChildItem (Join-Path $root 'docs/cmdlets') -Filter '*.md' -File | Copy-Item -Destination $merged
                Get-ChildItem $translated -Filter '*.md' -File | Copy-Item -Destination $merged -Force
                & $converter -SourceFolder $merged -OutputPath (Join-Path $out 'pt-BR/SecretsPS.dll-Help.xml')
            }
            finally { Remove-Item -LiteralPath $merged -Recurse -Force -ErrorAction SilentlyContinue }
        }
    }
    foreach ($culture in 'en-US', 'pt-BR') {
        $about = Join-Path $root "src/SecretsPS/$culture"
        if (Test-Path $about) {
            $target = Join-Path $out $culture
            New-Item -ItemType Directory -Force -Path $target | Out-Null
            Get-ChildItem $about -Filter '*.txt' | Copy-Item -Destination $target
        }
    }
}

function Invoke-Build {
    Push-Location $root
    try {
        Invoke-Native 'dotnet build' { dotnet build SecretsPS.sln -c $Configuration -nologo -v q -clp:ErrorsOnly }
        if (Test-Path $out) { Remove-Item $out -Recurse -Force }
        New-Item -ItemType Directory -Force -Path $out | Out-Null
        # The library and its dependencies, with runtimes/ (platform builds, native SQLite) for every OS.
        Invoke-Native 'dotnet publish' { dotnet publish src/SecretsPS.Core -c $Configuration -nologo -v q -clp:ErrorsOnly --no-build -o (Join-Path $out 'Dependencies') }
        $cmdlets = Join-Path $root "src/SecretsPS/bin/$Configuration/net8.0"
        Copy-Item (Join-Path $cmdlets 'SecretsPS.dll'), (Join-Path $cmdlets 'SecretsPS.pdb') -Destination $out
        # The cmdlets' translated messages: <culture>/SecretsPS.resources.dll beside SecretsPS.dll, where .NET looks for them.
        foreach ($satellite in Get-ChildItem $cmdlets -Recurse -Filter 'SecretsPS.resources.dll') {
            $target = Join-Path $out $satellite.Directory.Name
            New-Item -ItemType Directory -Force -Path $target | Out-Null
            Copy-Item $satellite.FullName -Destination $target
        }
        Copy-Item (Join-Path $root 'SecretsPS.psd1') -Destination $out
        Copy-Item (Join-Path $root 'src/SecretsPS/SecretsPS.Format.ps1xml') -Destination $out
        Invoke-Docs
        Write-Host "Module: $(Join-Path $out 'SecretsPS.psd1')"
    }
    finally { Pop-Location }
}

function Invoke-Tests {
    Invoke-Build
    $passed = 0; $failed = 0; $skipped = 0

    # xunit, on each runtime the test project targets: .NET 10 (PowerShell 7.6) and .NET 8 (PowerShell 7.4 LTS, self-contained).
    foreach ($framework in 'net10.0', 'net8.0') {
        $trx = Join-Path ([IO.Path]::GetTempPath()) "secretsps-xunit-$PID-$framework"
        Remove-Item $trx -Recurse -Force -ErrorAction SilentlyContinue
        dotnet test (Join-Path $root 'tests/SecretsPS.Core.Tests') -c $Configuration -f $framework --no-build -nologo `
            --logger 'trx;LogFileName=results.trx' --logger 'console;verbosity=normal' --results-directory $trx | Out-Host
        $xunitExit = $LASTEXITCODE
        $trxFile = Join-Path $trx 'results.trx'
        if (Test-Path $trxFile) {
            [xml] $doc = Get-Content -Raw $trxFile
            $c = $doc.TestRun.ResultSummary.Counters
            $passed += [int]$c.passed; $failed += [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted
            $skipped += [int]$c.notExecuted
            Write-Host "xunit ($framework): $($c.passed) passed, $($c.failed) failed, $($c.notExecuted) skipped"
        }
        elseif ($xunitExit -ne 0) { $failed += 1; Write-Host "xunit ($framework): the run failed before producing results" }
    }

    # Pester, in a fresh pwsh so that it imports the module just built.
    $packages = (dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', ''
    # The version comes from Directory.Packages.props (PesterVersion), the one place every package version is kept.
    [xml] $central = Get-Content -Raw (Join-Path $root 'Directory.Packages.props')
    $pesterVersion = $central.SelectSingleNode('/Project/PropertyGroup/PesterVersion').InnerText.Trim()
    $pester = Join-Path $packages.Trim() "pester/$pesterVersion/tools/Pester.psd1"
    if (-not (Test-Path $pester)) { throw "Pester was not restored to '$pester' (it comes with the test project's PackageDownload)." }
    $summary = Join-Path ([IO.Path]::GetTempPath()) "secretsps-pester-$PID.json"
    $runner = @"
`$ErrorActionPreference = 'Stop'
`$PSStyle.OutputRendering = 'PlainText'
Import-Module '$pester'
`$config = New-PesterConfiguration
`$config.Run.Path = '$(Join-Path $root 'tests/Pester')'
`$config.Run.PassThru = `$true
`$config.Output.Verbosity = 'Detailed'
`$config.Output.RenderMode = 'Plaintext'
`$r = Invoke-Pester -Configuration `$config
@{ Passed = `$r.PassedCount; Failed = `$r.FailedCount + `$r.FailedBlocksCount + `$r.FailedContainersCount; Skipped = `$r.SkippedCount } | ConvertTo-Json | Set-Content '$summary'
"@
    $env:SECRETSPS_MODULE = Join-Path $out 'SecretsPS.psd1'
    $env:NO_COLOR = '1'
    $pwsh = Get-PwshCommand
    & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $runner | Out-Host
    if (Test-Path $summary) {
        $p = Get-Content -Raw $summary | ConvertFrom-Json
        Remove-Item $summary
        $passed += $p.Passed; $failed += $p.Failed; $skipped += $p.Skipped
        Write-Host "Pester: $($p.Passed) passed, $($p.Failed) failed, $($p.Skipped) skipped"
    }
    else { $failed += 1; Write-Host 'Pester: the run failed before producing results' }

    $line = "$passed passed, $failed failed"
    if ($skipped -gt 0) { $line += ", $skipped skipped" }
    Write-Host $line
    if ($failed -gt 0) { exit 1 }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Docs' { Invoke-Build }
    'Test' { Invoke-Tests }
    'Demo' {
        Invoke-Build
        $pwsh = Get-PwshCommand
        & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -File (Join-Path $root 'demo/Demo.ps1') -ModulePath (Join-Path $out 'SecretsPS.psd1')
        if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    }
    'Bench' {
        & (Join-Path $root 'bench/run.ps1') -Rows $Rows -Configuration $Configuration
        if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    }
    'Fuzz' {
        $env:SECRETSPS_FUZZ_ITERATIONS = '200000'
        dotnet test (Join-Path $root 'tests/SecretsPS.Core.Tests') -c $Configuration -f net10.0 -nologo --filter 'FullyQualifiedName~Fuzz|FullyQualifiedName~Property' --logger 'console;verbosity=normal'
        if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    }
}
