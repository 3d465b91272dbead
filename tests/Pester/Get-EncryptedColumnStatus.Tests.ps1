#Requires -Version 7.4
<#
    Get-EncryptedColumnStatus on SQLite and PostgreSQL: per target, rows per key version, NULLs, values that are not
    ciphertext, rows at the active version and IsComplete, all counted in the database (FORMATS.md §4) — the proof
    that a re-encryption is complete before Remove-UnusedEncryptionKey.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:SavedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:SavedConnection = $env:SECRETSPS_CONNECTION_STRING
    Remove-Item Env:SECRETSPS_CONNECTION_STRING -ErrorAction Ignore
    $script:Pg = Start-TestPostgres
    # ---- fixtures of this file: databases filled outside SecretsPS (python3's sqlite3, psql), the application's reader ----
    $script:Python = @('/usr/bin/python3', (Get-Command python3 -CommandType Application -ErrorAction Ignore | Select-Object -First 1 -ExpandProperty Source)) |
        Where-Object { $_ -and (Test-Path -LiteralPath $_) } | Select-Object -First 1
    $script:ReferenceScript = Join-Path $PSScriptRoot '../interop/secretsps_ref.py'
    $script:SqliteHelper = @'
import sys, sqlite3
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
sql = sys.stdin.buffer.read().decode('utf-8')
if sys.argv[2] == 'exec':
    con.executescript(sql)
else:
    for row in con.execute(sql):
        sys.stdout.buffer.write(('|'.join(chr(92) + 'N' if v is None else str(v) for v in row) + chr(10)).encode('utf-8'))
con.close()
'@

    function New-CleanupDatabase {
        # SQLite: a file in the folder (created by the first SQL); PostgreSQL: a fresh database on this file's server ($null without one).
        param([string] $Provider, [string] $Folder)
        if ($Provider -eq 'Sqlite') {
            $path = Join-Path $Folder ('app-' + [guid]::NewGuid().ToString('N').Substring(0, 8) + '.db')
            return [pscustomobject]@{ Provider = 'Sqlite'; ConnectionString = $path }
        }
        if (-not $script:Pg.Available) { return $null }
        [pscustomobject]@{ Provider = 'PostgreSql'; ConnectionString = (New-TestPostgresDatabase -Server $script:Pg) }
    }

    function Invoke-CleanupSql {
        # Runs SQL outside SecretsPS; with -Query returns the rows as 'a|b' strings (NULL as \N).
        param([object] $Database, [string] $Sql, [switch] $Query)
        if ($Database.Provider -eq 'Sqlite') {
            $out = @($Sql | & $script:Python -c $script:SqliteHelper $Database.ConnectionString $(if ($Query) { 'query' } else { 'exec' }) 2>&1)
            $stderr = @($out | Where-Object { $_ -is [Management.Automation.ErrorRecord] }) -join "`n"
            if ($LASTEXITCODE -ne 0) { throw "python3 sqlite3 failed ($LASTEXITCODE): $stderr" }
            return $out | Where-Object { $_ -isnot [Management.Automation.ErrorRecord] }
        }
        Invoke-TestPsql -Server $script:Pg -Database $Database.ConnectionString -Sql $Sql
    }

    function New-CleanupTable {
        # CREATE TABLE <Table> (id INTEGER PRIMARY KEY, <Column> TEXT) with rows id = 1..N holding -Values ($null = NULL).
        param([object] $Database, [string] $Table, [AllowEmptyCollection()][AllowNull()][object[]] $Values = @(), [string] $Column = 'otp')
        $sql = "CREATE TABLE `"$Table`" (id INTEGER PRIMARY KEY, `"$Column`" TEXT);"
        $rows = for ($i = 0; $i -lt $Values.Count; $i++) {
            $v = $Values[$i]
            "($($i + 1), $(if ($null -eq $v) { 'NULL' } else { "'" + ([string]$v).Replace("'", "''") + "'" }))"
        }
        if ($rows) { $sql += " INSERT INTO `"$Table`" (id, `"$Column`") VALUES $($rows -join ', ');" }
        $null = Invoke-CleanupSql -Database $Database -Sql $sql
    }

    function Get-CleanupRows {
        # The column in key order: { Key; Value ($null for NULL) }.
        param([object] $Database, [string] $Table, [string] $Column = 'otp')
        foreach ($line in @(Invoke-CleanupSql -Database $Database -Sql "SELECT id, `"$Column`" FROM `"$Table`" ORDER BY id" -Query)) {
            $k, $v = $line -split '\|', 2
            [pscustomobject]@{ Key = $k; Value = $(if ($v -eq '\N') { $null } else { $v }) }
        }
    }

    function Test-ApplicationReader {
        if ($null -eq $script:ReaderOk) {
            $script:ReaderOk = $false
            if ($script:Python -and (Test-Path -LiteralPath $script:ReferenceScript) -and
                (Select-String -LiteralPath $script:ReferenceScript -Pattern 'check-rows' -SimpleMatch -Quiet)) {
                $null = & $script:Python -c 'import cryptography.fernet' 2>&1
                $script:ReaderOk = $LASTEXITCODE -eq 0
            }
        }
        $script:ReaderOk
    }

    function Read-WithApplication {
        <#
            Every row of the column as the application reads it, in key order: the plaintext, or $null for NULL.
            The reader is tests/interop/secretsps_ref.py (read-sqlite / check-rows; Python's cryptography, no code
            shared with SecretsPS), which fails on any value that does not decrypt or, with -ExpectVersion, is under
            another version. Without python3 + cryptography it falls back to Unprotect-EncryptedValue and says so.
        #>
        param([object] $Database, [string] $KeyFile, [string] $Table, [string] $Column = 'otp', [string] $ExpectVersion)
        if (-not (Test-ApplicationReader)) {
            Write-Host "NOTE: secretsps_ref.py is not usable here (python3 + cryptography); rows read with Unprotect-EncryptedValue instead."
            return , @(Get-CleanupRows -Database $Database -Table $Table -Column $Column | ForEach-Object {
                    if ($null -eq $_.Value) { $null } else {
                        if ($ExpectVersion) { $_.Value | Should -BeLike "$($ExpectVersion):*" }
                        Unprotect-EncryptedValue -Path $KeyFile -Value $_.Value -ErrorAction Stop
                    } })
        }
        $arguments = @('--key-file', $KeyFile, '--ignore-environment')
        if ($ExpectVersion) { $arguments += @('--expect-version', $ExpectVersion) }
        if ($Database.Provider -eq 'Sqlite') {
            $lines = & $script:Python $script:ReferenceScript read-sqlite @arguments --db $Database.ConnectionString --table $Table --column $Column --key-column id 2>&1
        } else {
            $rows = @(Get-CleanupRows -Database $Database -Table $Table -Column $Column | ForEach-Object { "$($_.Key)`t$(if ($null -eq $_.Value) { '\N' } else { $_.Value })" })
            $lines = $rows | & $script:Python $script:ReferenceScript check-rows @arguments 2>&1
        }
        $failed = $LASTEXITCODE -ne 0
        $stderr = @($lines | Where-Object { $_ -is [Management.Automation.ErrorRecord] }) -join "`n"
        if ($failed) { throw "The application's reader (secretsps_ref.py) failed: $stderr" }
        , @(foreach ($line in @($lines | Where-Object { $_ -isnot [Management.Automation.ErrorRecord] })) {
                $k, $hex = $line -split "`t", 2
                if ($hex -eq 'NULL') { $null } else { [Text.Encoding]::UTF8.GetString([Convert]::FromHexString($hex)) }
            })
    }

    function ConvertTo-StreamText {
        # Everything captured records and objects carry, as text (messages, error ids, targets, exceptions, object properties).
        param([AllowNull()][AllowEmptyCollection()][object[]] $Records)
        @(foreach ($r in $Records) {
                if ($null -eq $r) { continue }
                if ($r -is [Management.Automation.ErrorRecord]) {
                    $r.ToString(); $r.FullyQualifiedErrorId; [string]$r.TargetObject
                    if ($r.ErrorDetails) { $r.ErrorDetails.Message }
                    if ($r.Exception) { $r.Exception.ToString() }
                } elseif ($r -is [Management.Automation.InformationalRecord]) { $r.Message }
                elseif ($r -is [Management.Automation.InformationRecord]) { [string]$r.MessageData }
                else {
                    $r | Format-List * -Force | Out-String -Width 500
                    try { $r | ConvertTo-Json -Depth 6 -Compress -WarningAction SilentlyContinue } catch { }
                }
            }) -join "`n"
    }

    function Assert-NoKeyMaterial {
        # No key, salt or derived key of the key file or of any of its backups (base64, base64url, hex) and no plaintext is in the text.
        param([AllowEmptyString()][string] $Text, [string] $KeyFile, [string[]] $Plaintexts = @(), [string] $Where)
        $material = @(Get-KeyMaterial -Path $KeyFile) + @(Get-BackupFiles -Path $KeyFile | ForEach-Object { Get-KeyMaterial -Path $_.FullName })
        @($material | Where-Object What -In 'key', 'salt').Count | Should -BeGreaterThan 1 -Because 'the scan must find the key file''s secrets'
        $hits = @(Find-SecretInText -Text $Text -Secrets (@($material) + @($Plaintexts | Where-Object { $_ })))
        $hits | Should -BeNullOrEmpty -Because "$Where must hold no key material or plaintext"
    }

    function Get-JournalLines {
        # The journal's lines as objects (none when there is no journal).
        param([string] $KeyFile)
        $journal = "$KeyFile.audit.jsonl"
        if (-not (Test-Path -LiteralPath $journal)) { return }
        Get-Content -LiteralPath $journal | Where-Object { $_ } | ForEach-Object { $_ | ConvertFrom-Json }
    }

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
    Restore-KeyEnvironment $script:SavedEnvironment
    if ($script:SavedConnection) { $env:SECRETSPS_CONNECTION_STRING = $script:SavedConnection }
}

Describe 'Get-EncryptedColumnStatus on <Provider>' -ForEach @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }) {
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
