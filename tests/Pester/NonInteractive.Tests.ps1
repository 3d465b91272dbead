BeforeDiscovery {
    $changing = @(
        @{ Cmdlet = 'New-EncryptionConfig'; Impact = 'Medium' }
        @{ Cmdlet = 'Invoke-KeyRotation'; Impact = 'Medium' }
        @{ Cmdlet = 'Set-ActiveEncryptionKey'; Impact = 'Medium' }
        @{ Cmdlet = 'Backup-EncryptionConfig'; Impact = 'Low' }
        @{ Cmdlet = 'Restore-EncryptionConfig'; Impact = 'High' }
        @{ Cmdlet = 'Remove-EncryptionKey'; Impact = 'High' }
    )
    $highImpact = $changing | Where-Object { $_.Impact -eq 'High' }
    $lowerImpact = $changing | Where-Object { $_.Impact -ne 'High' }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'

    # A folder per case: .env.crypto with v1 (active) and v2 (inactive), and a backup taken before v2 was added.
    function New-Case {
        $folder = New-TestFolder
        $path = New-TestKeyFile -Folder $folder
        $backup = (Backup-EncryptionConfig -Path $path).FullName
        $null = Invoke-KeyRotation -Path $path -Inactive -NewVersion v2
        [pscustomobject]@{ Folder = $folder; Path = $path; Backup = $backup; NewPath = (Join-Path $folder 'new.env') }
    }

    # The script the fresh pwsh runs: each step prints "START <name>", then "RESULT <json>" with its outcome.
    $childScript = @'
param([string] $ConfigFile)
$ErrorActionPreference = 'Continue'
$PSStyle.OutputRendering = 'PlainText'
Import-Module $env:SECRETSPS_MODULE -ErrorAction Stop
$c = Get-Content -Raw -LiteralPath $ConfigFile | ConvertFrom-Json
function Report([string] $Name, [scriptblock] $Block) {
    "START $Name"
    $r = [ordered]@{ Name = $Name; Ok = $true; ErrorId = $null; Category = $null; Message = $null; Exception = $null }
    try { $null = & $Block }
    catch {
        $r.Ok = $false; $r.ErrorId = $_.FullyQualifiedErrorId; $r.Category = "$($_.CategoryInfo.Category)"
        $r.Message = $_.Exception.Message; $r.Exception = $_.Exception.GetType().FullName
    }
    'RESULT ' + ($r | ConvertTo-Json -Compress)
}
'@

    function Invoke-Steps {
        # Runs the steps (text appended to the child script) in one fresh, non-interactive pwsh; returns name -> result.
        param([string] $Steps, [hashtable] $Config)
        $folder = New-TestFolder
        $scriptFile = Join-Path $folder 'child.ps1'
        $configFile = Join-Path $folder 'config.json'
        Set-Content -LiteralPath $scriptFile -Value ($childScript + "`n" + $Steps) -Encoding utf8
        Set-Content -LiteralPath $configFile -Value ($Config | ConvertTo-Json -Depth 5) -Encoding utf8
        $run = Invoke-FreshPwsh -NonInteractive -TimeoutSeconds 60 -Command "& '$scriptFile' -ConfigFile '$configFile'"
        $results = @{}
        foreach ($line in ($run.StdOut -split "`r?`n")) {
            if ($line -like 'RESULT *') { $o = $line.Substring(7) | ConvertFrom-Json; $results[$o.Name] = $o }
        }
        [pscustomobject]@{ Run = $run; Results = $results }
    }

    function Get-Result {
        param($Outcome, [string] $Name)
        $r = $Outcome.Results[$Name]
        $r | Should -Not -BeNullOrEmpty -Because "the step '$Name' must report (stdout: $($Outcome.Run.StdOut) stderr: $($Outcome.Run.StdErr))"
        $r
    }
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe 'State-changing cmdlets in a non-interactive host (a scheduled task, a runbook)' {

    Context 'without -Force or -Confirm:$false' {
        BeforeAll {
            $cases = @{}
            foreach ($name in 'Restore-EncryptionConfig', 'Remove-EncryptionKey',
                'Default:New-EncryptionConfig', 'Default:Invoke-KeyRotation', 'Default:Set-ActiveEncryptionKey', 'Default:Backup-EncryptionConfig',
                'Low:New-EncryptionConfig', 'Low:Invoke-KeyRotation', 'Low:Set-ActiveEncryptionKey', 'Low:Backup-EncryptionConfig') {
                $cases[$name] = New-Case
            }
            $before = @{}
            foreach ($k in $cases.Keys) { $before[$k] = Get-FileHashString $cases[$k].Folder }
            $steps = @'
Report 'Restore-EncryptionConfig' { Restore-EncryptionConfig -Path $c.'Restore-EncryptionConfig'.Path -BackupPath $c.'Restore-EncryptionConfig'.Backup -ErrorAction Stop }
Report 'Remove-EncryptionKey' { Remove-EncryptionKey -Path $c.'Remove-EncryptionKey'.Path -Version v2 -ErrorAction Stop }
Report 'Default:New-EncryptionConfig' { New-EncryptionConfig -Path $c.'Default:New-EncryptionConfig'.NewPath -ErrorAction Stop -WarningAction SilentlyContinue }
Report 'Default:Invoke-KeyRotation' { Invoke-KeyRotation -Path $c.'Default:Invoke-KeyRotation'.Path -ErrorAction Stop -WarningAction SilentlyContinue }
Report 'Default:Set-ActiveEncryptionKey' { Set-ActiveEncryptionKey -Path $c.'Default:Set-ActiveEncryptionKey'.Path -Version v2 -ErrorAction Stop }
Report 'Default:Backup-EncryptionConfig' { Backup-EncryptionConfig -Path $c.'Default:Backup-EncryptionConfig'.Path -ErrorAction Stop }
$ConfirmPreference = 'Low'
Report 'Low:New-EncryptionConfig' { New-EncryptionConfig -Path $c.'Low:New-EncryptionConfig'.NewPath -ErrorAction Stop -WarningAction SilentlyContinue }
Report 'Low:Invoke-KeyRotation' { Invoke-KeyRotation -Path $c.'Low:Invoke-KeyRotation'.Path -ErrorAction Stop -WarningAction SilentlyContinue }
Report 'Low:Set-ActiveEncryptionKey' { Set-ActiveEncryptionKey -Path $c.'Low:Set-ActiveEncryptionKey'.Path -Version v2 -ErrorAction Stop }
Report 'Low:Backup-EncryptionConfig' { Backup-EncryptionConfig -Path $c.'Low:Backup-EncryptionConfig'.Path -ErrorAction Stop }
'@
            $outcome = Invoke-Steps -Steps $steps -Config $cases
        }

        It 'the fresh pwsh finished well within the timeout' {
            $outcome.Run.Duration.TotalSeconds | Should -BeLessThan 30
        }

        It '<Cmdlet> (ConfirmImpact High) fails fast with ConfirmationRequired naming -Force, and changes nothing' -ForEach $highImpact {
            $r = Get-Result $outcome $Cmdlet
            $r.Ok | Should -BeFalse
            $r.ErrorId | Should -Match '^ConfirmationRequired(,|$)'
            $r.Category | Should -Be 'InvalidOperation'
            $r.Message | Should -Match '-Force'
            Get-FileHashString $cases[$Cmdlet].Folder | Should -Be $before[$Cmdlet]
        }

        It '<Cmdlet> (ConfirmImpact <Impact>) needs no prompt under the default $ConfirmPreference and completes' -ForEach $lowerImpact {
            $r = Get-Result $outcome "Default:$Cmdlet"
            $r.Ok | Should -BeTrue -Because "$($r.ErrorId) $($r.Message)"
            Get-FileHashString $cases["Default:$Cmdlet"].Folder | Should -Not -Be $before["Default:$Cmdlet"]
        }

        It '<Cmdlet> fails fast with ConfirmationRequired when $ConfirmPreference asks for a prompt, and changes nothing' -ForEach $lowerImpact {
            $r = Get-Result $outcome "Low:$Cmdlet"
            $r.Ok | Should -BeFalse
            $r.ErrorId | Should -Match '^ConfirmationRequired(,|$)'
            $r.Category | Should -Be 'InvalidOperation'
            Get-FileHashString $cases["Low:$Cmdlet"].Folder | Should -Be $before["Low:$Cmdlet"]
        }

        It 'the ConfirmationRequired message of <Cmdlet> only suggests switches that <Cmdlet> has' -ForEach $changing {
            $name = if ($Impact -eq 'High') { $Cmdlet } else { "Low:$Cmdlet" }
            $r = Get-Result $outcome $name
            $suggested = [regex]::Matches($r.Message, '(?<![\w$])-(Force|Confirm|WhatIf)\b') | ForEach-Object { $_.Groups[1].Value } | Select-Object -Unique
            $suggested | Should -Not -BeNullOrEmpty
            foreach ($s in $suggested) {
                (Get-Command $Cmdlet).Parameters.Keys | Should -Contain $s -Because "the message tells the user to add -$s"
            }
        }
    }

    Context 'with -Force (or -Confirm:$false where the cmdlet has no -Force), even with $ConfirmPreference = Low' {
        BeforeAll {
            $cases = @{}
            foreach ($name in 'New-EncryptionConfig', 'Invoke-KeyRotation', 'Set-ActiveEncryptionKey', 'Backup-EncryptionConfig', 'Restore-EncryptionConfig', 'Remove-EncryptionKey', 'Debug:Invoke-KeyRotation', 'Debug:New-EncryptionConfig') {
                $cases[$name] = New-Case
            }
            $before = @{}
            foreach ($k in $cases.Keys) { $before[$k] = Get-FileHashString $cases[$k].Path }
            $backupsBefore = @(Get-BackupFiles $cases['Backup-EncryptionConfig'].Path).Count
            # One process for both this context and the next (-Debug): each fresh pwsh costs about a second.
            $steps = @'
Report 'Debug:Invoke-KeyRotation' { Invoke-KeyRotation -Path $c.'Debug:Invoke-KeyRotation'.Path -NewVersion v3 -Force -Debug -ErrorAction Stop }
Report 'Debug:New-EncryptionConfig' { New-EncryptionConfig -Path $c.'Debug:New-EncryptionConfig'.NewPath -Debug -ErrorAction Stop }
$ConfirmPreference = 'Low'
Report 'New-EncryptionConfig' { New-EncryptionConfig -Path $c.'New-EncryptionConfig'.Path -Force -ErrorAction Stop -WarningAction SilentlyContinue }
Report 'Invoke-KeyRotation' { Invoke-KeyRotation -Path $c.'Invoke-KeyRotation'.Path -Force -ErrorAction Stop -WarningAction SilentlyContinue }
Report 'Set-ActiveEncryptionKey' { Set-ActiveEncryptionKey -Path $c.'Set-ActiveEncryptionKey'.Path -Version v2 -Force -ErrorAction Stop }
Report 'Backup-EncryptionConfig' { Backup-EncryptionConfig -Path $c.'Backup-EncryptionConfig'.Path -Confirm:$false -ErrorAction Stop }
Report 'Restore-EncryptionConfig' { Restore-EncryptionConfig -Path $c.'Restore-EncryptionConfig'.Path -BackupPath $c.'Restore-EncryptionConfig'.Backup -Force -ErrorAction Stop }
Report 'Remove-EncryptionKey' { Remove-EncryptionKey -Path $c.'Remove-EncryptionKey'.Path -Version v2 -Force -ErrorAction Stop }
'@
            $script:forcedOutcome = Invoke-Steps -Steps $steps -Config $cases
            # TestDrive folders of a Context are removed when it ends: read what the next Context checks now.
            $script:debugRotationVersions = @((Get-EncryptionKey -Path $cases['Debug:Invoke-KeyRotation'].Path).Version)
            $outcome = $script:forcedOutcome
        }

        It '<Cmdlet> completes and does its change' -ForEach $changing {
            $r = Get-Result $outcome $Cmdlet
            $r.Ok | Should -BeTrue -Because "$($r.ErrorId) $($r.Message)"
            $case = $cases[$Cmdlet]
            if ($Cmdlet -eq 'Backup-EncryptionConfig') {
                @(Get-BackupFiles $case.Path).Count | Should -Be ($backupsBefore + 1)
            }
            else {
                Get-FileHashString $case.Path | Should -Not -Be $before[$Cmdlet]
            }
        }
    }

    Context '-Debug (a prompt for each verbose or warning line of a compiled cmdlet)' {
        It '<Name> -Debug completes in a non-interactive host instead of failing on a prompt after its change' -ForEach @(
            @{ Name = 'Invoke-KeyRotation' }
            @{ Name = 'New-EncryptionConfig' }
        ) {
            $r = Get-Result $script:forcedOutcome "Debug:$Name"
            $r.Ok | Should -BeTrue -Because "it reported $($r.Exception): $($r.Message)"
        }

        It 'Invoke-KeyRotation -Debug did its change (so a failure report would be false)' {
            $script:debugRotationVersions | Should -Contain 'v3'
        }
    }
}

Describe 'Confirmation with standard input at end-of-file (pwsh -File x.ps1 </dev/null, as cron and systemd run it)' {
    # Not -NonInteractive: the console host tries to prompt, finds no line to read, and (PowerShell 7.6) throws a
    # NullReferenceException from its PromptForChoice. It must be ConfirmationRequired, as in a non-interactive host.
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
        $cases = @{}
        foreach ($name in 'Invoke-KeyRotation', 'Set-ActiveEncryptionKey', 'Remove-EncryptionKey', 'Start-Reencryption', 'Uncaught') {
            $cases[$name] = New-Case
        }
        $db = New-TestDatabase -Provider Sqlite -Folder $cases['Start-Reencryption'].Folder
        New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 3 'eof') $cases['Start-Reencryption'].Path -Version v2)
        $cases['Start-Reencryption'] | Add-Member -NotePropertyName Database -NotePropertyValue $db.ConnectionString
        $before = @{}
        foreach ($k in $cases.Keys) { $before[$k] = Get-FileHashString $cases[$k].Folder }
        $steps = @'
Report 'Set-ActiveEncryptionKey' { Set-ActiveEncryptionKey -Path $c.'Set-ActiveEncryptionKey'.Path -Version v2 -Confirm -ErrorAction Stop }
Report 'Remove-EncryptionKey' { Remove-EncryptionKey -Path $c.'Remove-EncryptionKey'.Path -Version v2 -ErrorAction Stop }
Report 'Start-Reencryption' { Start-Reencryption -Table usuarios -Column otp -ConnectionString $c.'Start-Reencryption'.Database -Path $c.'Start-Reencryption'.Path -Confirm -ErrorAction Stop }
$ConfirmPreference = 'Low'
Report 'Invoke-KeyRotation' { Invoke-KeyRotation -Path $c.'Invoke-KeyRotation'.Path -ErrorAction Stop -WarningAction SilentlyContinue }
$ConfirmPreference = 'High'
$ErrorActionPreference = 'Stop'
'BEFORE-UNCAUGHT'
Invoke-KeyRotation -Path $c.'Uncaught'.Path -Confirm -ErrorAction Stop
'AFTER-UNCAUGHT'
'@
        $folder = New-TestFolder
        $scriptFile = Join-Path $folder 'child.ps1'
        $configFile = Join-Path $folder 'config.json'
        Set-Content -LiteralPath $scriptFile -Value ($childScript + "`n" + $steps) -Encoding utf8
        Set-Content -LiteralPath $configFile -Value ($cases | ConvertTo-Json -Depth 5) -Encoding utf8
        $run = Invoke-FreshPwsh -File $scriptFile -ArgumentList '-ConfigFile', $configFile -TimeoutSeconds 60
        $results = @{}
        foreach ($line in ($run.StdOut -split "`r?`n")) {
            # The console host writes its prompt without a line end: the result follows it on the same line.
            if ($line -match 'RESULT (\{.*\})$') { $o = $Matches[1] | ConvertFrom-Json; $results[$o.Name] = $o }
        }
        $outcome = [pscustomobject]@{ Run = $run; Results = $results }
    }

    It '<Cmdlet> fails fast with ConfirmationRequired (not UnexpectedError), and changes nothing' -ForEach @(
        @{ Cmdlet = 'Invoke-KeyRotation' }
        @{ Cmdlet = 'Set-ActiveEncryptionKey' }
        @{ Cmdlet = 'Remove-EncryptionKey' }
        @{ Cmdlet = 'Start-Reencryption' }
    ) {
        $r = Get-Result $outcome $Cmdlet
        $r.Ok | Should -BeFalse
        $r.ErrorId | Should -Match '^ConfirmationRequired(,|$)' -Because "$($r.Exception): $($r.Message)"
        $r.Category | Should -Be 'InvalidOperation'
        Get-FileHashString $cases[$Cmdlet].Folder | Should -Be $before[$Cmdlet]
    }

    It 'an uncaught ConfirmationRequired ends the script with exit code 1 and changes nothing' {
        $outcome.Run.StdOut | Should -Match 'BEFORE-UNCAUGHT'
        $outcome.Run.StdOut | Should -Not -Match 'AFTER-UNCAUGHT'
        $outcome.Run.ExitCode | Should -Be 1
        $outcome.Run.StdErr | Should -Not -Match 'NullReference|UnexpectedError'
        Get-FileHashString $cases['Uncaught'].Folder | Should -Be $before['Uncaught']
    }

    It 'ends well within the timeout (no prompt waits for input)' {
        $outcome.Run.Duration.TotalSeconds | Should -BeLessThan 30
    }
}
