#Requires -Version 7.4
<#
    The README's rotation walk-through ("Processo Completo de Rotação"), end to end, on SQLite, on PostgreSQL and on
    MariaDB (one throwaway server of each for the file; without MariaDB its cases fail, saying to install mariadb-server), the way an operator runs it: in the application's folder, where the
    cmdlets find ./.env.crypto by themselves.

        New-EncryptionConfig; the application writes encrypted values; Invoke-KeyRotation -PassThru; Get-EncryptionKey;
        Start-Reencryption -WhatIf; Start-Reencryption -Verbose; every value is v2 and decrypts (independent reader);
        Get-ReencryptJob -First 1; Remove-EncryptionKey -Version v1; everything still decrypts.

    The It blocks are the steps, in order: each depends on the one before.
#>

BeforeDiscovery {
    $providers = @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }, @{ Provider = 'MySql' })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'MariaDbServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $script:databaseTestFile = Enter-DatabaseTestFile -MariaDb
    $script:folder = $databaseTestFile.Folder
    $script:pg = $databaseTestFile.Postgres
    $script:my = $databaseTestFile.MariaDb
}

AfterAll {
    Exit-DatabaseTestFile $script:databaseTestFile
}

Describe 'The README rotation walk-through on <Provider>' -ForEach $providers {
    BeforeAll {
        $skip = $Provider -eq 'PostgreSql' -and -not $pg.Available
        $app = New-TestFolder -Parent $folder
        $keyFile = Join-Path $app '.env.crypto'
        Push-Location -LiteralPath $app
        if ($Provider -eq 'MySql') { Assert-TestMariaDb $my }
        if (-not $skip) { $database = New-TestDatabase -Provider $Provider -Folder $app -Server $(if ($Provider -eq 'MySql') { $my } else { $pg }) }
        # SQLite: a path relative to the current PowerShell location, as an operator in the application's folder types it.
        $connectionString = if (-not $database) { '' } elseif ($Provider -eq 'Sqlite') { Split-Path -Leaf $database.Path } else { $database.ConnectionString }
        $db = @{ Provider = $Provider; ConnectionString = $connectionString }
        $userCount = 120
        $plain = New-TestPlaintext $userCount 'usuario' -NullKeys 7, 50, 99
        $nonNull = $userCount - 3
    }
    AfterAll {
        Pop-Location
    }
    BeforeEach {
        if ($skip) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    It '0. New-EncryptionConfig creates ./.env.crypto with v1' {
        $v = New-EncryptionConfig -WarningAction SilentlyContinue
        $v.Version | Should -Be 'v1'
        Test-Path -LiteralPath $keyFile | Should -BeTrue
    }

    It '0. the application stores its secrets encrypted with v1' {
        $script:v1Values = New-TestStoredValue $plain $keyFile
        New-TestSecretTable -Database $database -Table usuarios -Column _otp_secret -Values $v1Values
        @(Invoke-TestSql -Database $database -Sql "SELECT count(*) FROM usuarios WHERE _otp_secret LIKE 'v1:%'") | Should -Be "$nonNull"
        # Written by the module, readable by the independent reader.
        $check = Get-TestColumnCheck -Database $database -Table usuarios -Column _otp_secret -KeyFile $keyFile -Expected $plain -Version v1
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Mismatches | Should -Be 0
    }

    It '1. Invoke-KeyRotation -Confirm:$false -PassThru adds v2, active' {
        $new = Invoke-KeyRotation -Confirm:$false -PassThru -WarningAction SilentlyContinue
        $new.Version | Should -Be 'v2'
    }

    It '2. Get-EncryptionKey lists v1 and v2, v2 active' {
        $keys = @(Get-EncryptionKey)
        $keys.Version | Should -Be @('v1', 'v2')
        ($keys | Where-Object IsActive).Version | Should -Be 'v2'
    }

    It '3. Start-Reencryption -WhatIf rehearses: every value would move, nothing is written' {
        $before = Get-TestDatabaseState -Database $database -Table usuarios
        $preview = Start-Reencryption -Table usuarios -Column _otp_secret @db -WhatIf
        $preview.WouldReencrypt | Should -Be $nonNull
        $preview.AlreadyAtTarget | Should -Be 0
        $preview.Errors | Should -Be 0
        $preview.TargetVersion | Should -Be 'v2'
        Get-TestDatabaseState -Database $database -Table usuarios | Should -BeExactly $before
    }

    It '3. Start-Reencryption -Verbose re-encrypts the column' {
        $records = @(Start-Reencryption -Table usuarios -Column _otp_secret @db -Verbose 4>&1)
        $job = @($records | Where-Object { $_ -isnot [Management.Automation.VerboseRecord] })
        $job.Count | Should -Be 1
        $job[0].Status.ToString() | Should -Be 'Finished'
        $job[0].Processed | Should -Be $nonNull
        $job[0].Errors | Should -Be 0
        @($records | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Count | Should -BeGreaterThan 0
    }

    It '4. every value now starts with v2: and decrypts to what the application wrote' {
        @(Invoke-TestSql -Database $database -Sql "SELECT count(*) FROM usuarios WHERE _otp_secret IS NOT NULL AND _otp_secret NOT LIKE 'v2:%'") | Should -Be '0'
        @(Invoke-TestSql -Database $database -Sql 'SELECT count(*) FROM usuarios WHERE _otp_secret IS NULL') | Should -Be '3'
        $check = Get-TestColumnCheck -Database $database -Table usuarios -Column _otp_secret -KeyFile $keyFile -Expected $plain -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.ByVersion['v2'] | Should -Be $nonNull
        $check.Mismatches | Should -Be 0 -Because "every row must decrypt to its plaintext ($($check.Reader))"
    }

    It '4. Get-ReencryptJob -First 1 shows the finished job' {
        $last = @(Get-ReencryptJob @db -First 1)
        $last.Count | Should -Be 1
        $last[0].Status.ToString() | Should -Be 'Finished'
        $last[0].Target | Should -Be 'usuarios._otp_secret'
        $last[0].TargetVersion | Should -Be 'v2'
        $last[0].Processed | Should -Be $nonNull
    }

    It '5. Remove-EncryptionKey -Version v1 -Confirm:$false removes the old key, after a backup' {
        $backupsBefore = @(Get-BackupFiles $keyFile).Count
        Remove-EncryptionKey -Version v1 -Confirm:$false -WarningAction SilentlyContinue
        @(Get-EncryptionKey).Version | Should -Be @('v2')
        (Get-KeyFileValues $keyFile).Keys | Should -Not -Contain 'ENCRYPTION_KEYS__v1'
        @(Get-BackupFiles $keyFile).Count | Should -BeGreaterThan $backupsBefore
    }

    It '5. everything still decrypts with the key file that has no v1' {
        $check = Get-TestColumnCheck -Database $database -Table usuarios -Column _otp_secret -KeyFile $keyFile -Expected $plain -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Mismatches | Should -Be 0
        # The module reads them too (a sample) …
        $rows = @(Get-TestColumnValue -Database $database -Table usuarios -Column _otp_secret)
        foreach ($k in 1, 60, 120) { Unprotect-EncryptedValue -Value $rows[$k - 1].Value | Should -BeExactly $plain[$k - 1] }
        # … while a value still at v1 (a copy made before the run) no longer can: v1 is really gone.
        $e = Get-ErrorRecord { Unprotect-EncryptedValue -Value $v1Values[0] -ErrorAction Stop }
        Assert-SecretsPSError $e 'ValueVersionUnknown'
    }

    It '5. a second run finds nothing left to do' {
        $again = Start-Reencryption -Table usuarios -Column _otp_secret @db
        $again.Processed | Should -Be 0
        $again.Skipped | Should -Be $nonNull
        $again.Errors | Should -Be 0
    }
}
