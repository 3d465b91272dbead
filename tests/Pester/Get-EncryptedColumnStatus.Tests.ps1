#Requires -Version 7.4
<#
    Get-EncryptedColumnStatus on SQLite, PostgreSQL and MariaDB: per target, rows per key version, NULLs, values that are not
    ciphertext, rows at the active version and IsComplete, all counted in the database (FORMATS.md §4) — the proof
    that a re-encryption is complete before Remove-UnusedEncryptionKey.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'MariaDbServer.psm1')
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:SavedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:SavedConnection = $env:SECRETSPS_CONNECTION_STRING
    Remove-Item Env:SECRETSPS_CONNECTION_STRING -ErrorAction Ignore
    $script:Pg = Start-TestPostgres
    $script:My = $null
    $script:My = Start-TestMariaDb
    . (Join-Path $PSScriptRoot 'CleanupFixtures.ps1')
    function New-KeyFileWithVersions {
        param([string] $Folder, [string[]] $Versions)
        $key = New-TestKeyFile -Folder $Folder -Version $Versions[0]
        foreach ($v in @($Versions | Select-Object -Skip 1)) { $null = Invoke-KeyRotation -Path $key -NewVersion $v -Force -WarningAction SilentlyContinue }
        $key
    }

    function Get-DatabaseState {
        # Changes when anything in the tables changes (SQLite: the file's hash; PostgreSQL: the rows).
        param([object] $Database, [string[]] $Table)
        if ($Database.Provider -eq 'Sqlite') { return Get-FileHashString $Database.ConnectionString }
        @(foreach ($t in $Table) { Invoke-CleanupSql -Database $Database -Sql "SELECT * FROM `"$t`" ORDER BY 1" -Query }) -join "`n"
    }

    function Skip-WithoutDatabase {
        param([AllowNull()] $Database)
        if ($null -eq $Database) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($script:Pg.Reason)" }
    }
}

AfterAll {
    Stop-TestPostgres -Server $script:Pg
    Stop-TestMariaDb -Server $script:My
    Restore-KeyEnvironment $script:SavedEnvironment
    if ($script:SavedConnection) { $env:SECRETSPS_CONNECTION_STRING = $script:SavedConnection }
}

Describe 'Get-EncryptedColumnStatus on <Provider>' -ForEach @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }, @{ Provider = 'MySql' }) {
    BeforeAll {
        $folder = New-TestFolder
        $db = New-CleanupDatabase -Provider $Provider -Folder $folder
        if ($db) {
            $key = New-KeyFileWithVersions -Folder $folder -Versions 'v1', 'v2', 'v3'
            $plain = @(1..9 | ForEach-Object { "otp-$_-ção-secret" })
            # t: 4 rows under v1, 2 under v2, 3 under v3 (active), 2 NULLs, a plaintext and an empty string.
            $mixed = @($plain[0..3] | Protect-EncryptedValue -Path $key -Version v1) + @($plain[4..5] | Protect-EncryptedValue -Path $key -Version v2) +
                @($plain[6..8] | Protect-EncryptedValue -Path $key -Version v3) + @($null, $null, 'plain-value-not-encrypted', '')
            New-CleanupTable -Database $db -Table t -Values $mixed
            # c: only ciphertext and NULLs, under v1 and v3.
            New-CleanupTable -Database $db -Table c -Values (@($plain[0..2] | Protect-EncryptedValue -Path $key -Version v1) + @($null) + @($plain[3] | Protect-EncryptedValue -Path $key))
            $dbArgs = @{ Provider = $db.Provider; ConnectionString = $db.ConnectionString }
        }
    }

    Context 'a column with every kind of value' {
        BeforeAll {
            if ($db) {
                $stateBefore = Get-DatabaseState -Database $db -Table t, c
                $log = Join-Path $folder 'status.log'
                $records = @(Get-EncryptedColumnStatus -Path $key -Table t -Column otp @dbArgs -LogFile $log -Verbose -WarningVariable warnings *>&1)
                $status = @($records | Where-Object { $_.GetType().Name -eq 'EncryptedColumnStatus' })[0]
            }
        }

        It 'counts the rows per key version' {
            Skip-WithoutDatabase $db
            $status.Table | Should -Be 't'
            $status.Column | Should -Be 'otp'
            $status.TotalRows | Should -Be 13
            @($status.RowsByVersion.Keys) | Should -Be @('v1', 'v2', 'v3')
            $status.RowsByVersion['v1'] | Should -Be 4
            $status.RowsByVersion['v2'] | Should -Be 2
            $status.RowsByVersion['v3'] | Should -Be 3
            $status.EncryptedRows | Should -Be 9
        }

        It 'counts NULLs, values that are not ciphertext and rows at the active version' {
            Skip-WithoutDatabase $db
            $status.NullRows | Should -Be 2
            $status.NotCiphertext | Should -Be 2
            $status.UnknownVersionRows | Should -Be 0
            $status.ActiveVersion | Should -Be 'v3'
            $status.AtActiveVersion | Should -Be 3
        }

        It 'is not complete, and warns about the values that are not ciphertext' {
            Skip-WithoutDatabase $db
            $status.IsComplete | Should -BeFalse
            @($warnings | Where-Object { "$_" -match '^2 row\(s\) of t\.otp are not ciphertext' }).Count | Should -Be 1
        }

        It 'changes nothing in the database' {
            Skip-WithoutDatabase $db
            Get-DatabaseState -Database $db -Table t, c | Should -Be $stateBefore
        }

        It 'logs in the FORMATS.md §6 line format, without key material or any value' {
            Skip-WithoutDatabase $db
            $lines = @(Get-Content -LiteralPath $log)
            $lines | ForEach-Object { $_ | Should -Match '^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} - SecretsPS\.Commands\.GetEncryptedColumnStatus - (DEBUG|INFO|WARNING|ERROR) - \S' }
            $lines | Where-Object { $_ -match ' - WARNING - 2 row\(s\) of t\.otp are not ciphertext' } | Should -HaveCount 1
            $lines | Where-Object { $_ -match " - INFO - t\.otp: not complete, 3 of 9 encrypted row\(s\) at 'v3'" } | Should -HaveCount 1
            $values = @(Get-CleanupRows -Database $db -Table t | Where-Object { $_.Value } | ForEach-Object Value)
            $text = (Get-Content -Raw -LiteralPath $log) + "`n" + (ConvertTo-StreamText $records)
            Assert-NoKeyMaterial -Text $text -KeyFile $key -Plaintexts ($plain + $values) -Where 'the log and the streams'
        }
    }

    Context 'complete or not' {
        It 'a column whose non-NULL values are all at the active version is complete; NULLs do not count' {
            Skip-WithoutDatabase $db
            $before = Get-EncryptedColumnStatus -Path $key -Table c -Column otp @dbArgs
            $before.IsComplete | Should -BeFalse
            $before.RowsByVersion['v1'] | Should -Be 3
            $job = Start-Reencryption -Path $key -Table c -Column otp @dbArgs
            $job.Status.ToString() | Should -Be 'Finished'
            $after = Get-EncryptedColumnStatus -Path $key -Table c -Column otp @dbArgs
            $after.IsComplete | Should -BeTrue
            $after.NullRows | Should -Be 1
            $after.AtActiveVersion | Should -Be 4
            @($after.RowsByVersion.Keys) | Should -Be @('v3')
        }

        It 'an empty table is complete' {
            Skip-WithoutDatabase $db
            New-CleanupTable -Database $db -Table empty -Values @()
            $s = Get-EncryptedColumnStatus -Path $key -Table empty -Column otp @dbArgs
            $s.TotalRows | Should -Be 0
            $s.IsComplete | Should -BeTrue
        }
    }

    Context 'a value under a version the key file no longer has' {
        It 'counts it as UnknownVersionRows and warns to restore that version from a backup' {
            Skip-WithoutDatabase $db
            $otherFolder = New-TestFolder
            $other = New-KeyFileWithVersions -Folder $otherFolder -Versions 'v1', 'v2'
            $values = @('a', 'b' | Protect-EncryptedValue -Path $other -Version v1) + @('c' | Protect-EncryptedValue -Path $other)
            Remove-EncryptionKey -Path $other -Version v1 -Force
            New-CleanupTable -Database $db -Table gone -Values $values
            $s = Get-EncryptedColumnStatus -Path $other -Table gone -Column otp @dbArgs -WarningVariable w -WarningAction SilentlyContinue
            $s.UnknownVersionRows | Should -Be 2
            $s.RowsByVersion['v1'] | Should -Be 2
            $s.NotCiphertext | Should -Be 0
            $s.IsComplete | Should -BeFalse
            "$w" | Should -Match '2 row\(s\) of gone\.otp name a key version that is not in the key file'
        }

        It 'counts a plaintext that holds a colon as not ciphertext, not as an unknown key version' {
            Skip-WithoutDatabase $db
            New-CleanupTable -Database $db -Table colon -Values @('https://example.com/a', 'user:secret')
            $s = Get-EncryptedColumnStatus -Path $key -Table colon -Column otp @dbArgs -WarningVariable w -WarningAction SilentlyContinue
            $s.NotCiphertext | Should -Be 2
            $s.UnknownVersionRows | Should -Be 0
            "$w" | Should -Not -Match 'restore it from a backup' -Because 'no key version is missing: these values are plaintext'
        }
    }

    Context 'several targets' {
        It 'takes Table and Column from the pipeline by property name and reports each target' {
            Skip-WithoutDatabase $db
            $all = @([pscustomobject]@{ Table = 't'; Column = 'otp' }, [pscustomobject]@{ Table = 'c'; Column = 'otp' } |
                Get-EncryptedColumnStatus -Path $key @dbArgs -WarningAction SilentlyContinue)
            $all.Target | Should -Be @('t.otp', 'c.otp')
        }

        It 'reports a missing table or column as a non-terminating TargetNotFound and still reports the others' {
            Skip-WithoutDatabase $db
            $all = @([pscustomobject]@{ Table = 'no_such_table'; Column = 'otp' }, [pscustomobject]@{ Table = 'c'; Column = 'nope' }, [pscustomobject]@{ Table = 'c'; Column = 'otp' } |
                Get-EncryptedColumnStatus -Path $key @dbArgs -ErrorVariable e -ErrorAction SilentlyContinue)
            $all.Target | Should -Be @('c.otp')
            $e.Count | Should -Be 2
            $e | ForEach-Object { Assert-SecretsPSError $_ 'TargetNotFound' 'ObjectNotFound' }
        }
    }
}

Describe 'Get-EncryptedColumnStatus without a usable database' {
    It 'a SQLite file that does not exist is DatabaseNotFound (it never creates one)' {
        $folder = New-TestFolder
        $key = New-TestKeyFile -Folder $folder
        $missing = Join-Path $folder 'missing.db'
        $null = Get-EncryptedColumnStatus -Path $key -Table t -Column otp -ConnectionString $missing -ErrorVariable e -ErrorAction SilentlyContinue
        Assert-SecretsPSError $e[0] 'DatabaseNotFound' 'ObjectNotFound'
        Test-Path -LiteralPath $missing | Should -BeFalse
    }

    It 'no connection string is ConnectionStringMissing' {
        $key = New-TestKeyFile
        $e = Get-ErrorRecord { Get-EncryptedColumnStatus -Path $key -Table t -Column otp -ErrorAction Stop }
        Assert-SecretsPSError $e 'ConnectionStringMissing' 'InvalidArgument'
    }
}
