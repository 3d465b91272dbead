#Requires -Version 7.4
<#
    A rehearsal tells the truth: -WhatIf checks everything the run would check, and a mistaken argument is refused before
    anything is read, in the rehearsal and in the run alike (issue #19's first cases).
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:folder = New-TestDatabaseFolder
}

AfterAll {
    Remove-TestDatabaseFolder $script:folder
    Restore-KeyEnvironment $script:savedEnvironment
}

Describe 'Invoke-KeyRotation -WhatIf' {
    BeforeAll {
        $key = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $script:folder)
        $before = Get-FileHash -LiteralPath $key
    }

    It 'refuses a version that exists already with KeyVersionExists, as the run would (the check comes before "What if")' {
        $e = Get-ErrorRecord { Invoke-KeyRotation -Path $key -NewVersion v1 -WhatIf -ErrorAction Stop }
        Assert-SecretsPSError $e 'KeyVersionExists' 'ResourceExists'
        (Get-FileHash -LiteralPath $key).Hash | Should -Be $before.Hash
    }

    It 'still rehearses a version that does not exist' {
        { Invoke-KeyRotation -Path $key -NewVersion v3 -WhatIf -ErrorAction Stop } | Should -Not -Throw
        (Get-FileHash -LiteralPath $key).Hash | Should -Be $before.Hash
    }
}

Describe 'Start-Reencryption -MaxDuration given as a number' {
    BeforeAll {
        $key = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $script:folder)
        $db = New-TestDatabase -Provider Sqlite -Folder $script:folder
        New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 5 'd') $key)
        $run = @{ Provider = 'Sqlite'; ConnectionString = $db.ConnectionString; Path = $key }
    }

    It 'refuses -MaxDuration 5 (a number: five ticks) naming how to write five minutes, before anything is written' {
        $state = Get-TestDatabaseState -Database $db
        $e = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp @run -MaxDuration 5 -ErrorAction Stop }
        $e.FullyQualifiedErrorId | Should -BeLike 'ParameterArgumentTransformationError*'
        $e.Exception.Message | Should -Match '00:05:00'
        $e.Exception.Message | Should -Match 'New-TimeSpan -Minutes 5'
        Get-TestDatabaseState -Database $db | Should -Be $state
        Get-TestTableName $db | Should -Not -Contain 'reencrypt_jobs'
        $w = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp @run -MaxDuration 300 -WhatIf -ErrorAction Stop }
        $w.FullyQualifiedErrorId | Should -BeLike 'ParameterArgumentTransformationError*'
    }

    It 'accepts 0 (pause before any row), a TimeSpan and a time-span text' {
        $paused = @(Start-Reencryption -Table usuarios -Column otp @run -MaxDuration 0 -WarningAction SilentlyContinue)[0]
        $paused.Status.ToString() | Should -Be 'Paused'
        $done = @(Start-Reencryption -Table usuarios -Column otp @run -Resume -MaxDuration 00:05:00)[0]
        $done.Status.ToString() | Should -Be 'Finished'
    }
}
