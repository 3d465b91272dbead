#Requires -Version 7.4
<#
    Start-Reencryption on SQLite and PostgreSQL (one throwaway PostgreSQL server for the file): normal use, pipeline
    binding, -Verbose / Write-Progress, -WhatIf, row errors and refusals, connection and credential handling (a password
    never shows), -MaxRows / -MaxDuration / -Resume / -JobId, a job that is already running, Ctrl+C (PowerShell.Stop)
    and kill -9 in the middle of a run.

    Databases are read and changed outside the module (python3's sqlite3, psql: DatabaseFixtures.psm1), and the
    columns are checked with the independent Python reader (tests/interop/secretsps_ref.py) when it is available.
#>

BeforeDiscovery {
    $providers = @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }, @{ Provider = 'MySql' })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'MariaDbServer.psm1')
    $script:databaseTestFile = Enter-DatabaseTestFile -MariaDb
    $script:folder = $databaseTestFile.Folder
    $script:pg = $databaseTestFile.Postgres
    $script:my = $databaseTestFile.MariaDb
    $script:modulePath = (Get-Module SecretsPS).Path
    $script:me = "$([Environment]::MachineName):$PID"

    function New-Db([string] $Provider) {
        # MariaDB missing fails the test (Assert-TestMariaDb says to install mariadb-server), never skips it.
        if ($Provider -eq 'MySql') { Assert-TestMariaDb $script:my; return New-TestDatabase -Provider MySql -Server $script:my }
        New-TestDatabase -Provider $Provider -Folder $script:folder -Server $script:pg
    }

    function Test-NoDatabase([string] $Provider) { $Provider -eq 'PostgreSql' -and -not $script:pg.Available }

    # A key file with v1 and v2 (v2 active), in its own folder.
    function New-RotatedKey { New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $script:folder) }

    # Fresh pwsh processes cost seconds each on a busy machine: they are started early and checked later.
    $script:children = [Collections.Generic.List[object]]::new()

    # The Write-Progress check runs in a fresh, non-interactive pwsh with redirected output, started now.
    $script:progressKey = New-RotatedKey
    $script:progressDb = New-Db Sqlite
    New-TestSecretTable -Database $progressDb -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 120 'progress') $progressKey)
    $script:progressChild = Start-TestPwshProcess -Command @"
`$ErrorActionPreference = 'Stop'
`$ProgressPreference = 'Continue'
Import-Module '$modulePath'
`$j = Start-Reencryption -Table usuarios -Column otp -ConnectionString '$($progressDb.ConnectionString)' -Path '$progressKey' -BatchSize 5 -CommitEvery 5
'RESULT=' + (@{ Status = `$j.Status.ToString(); Processed = `$j.Processed } | ConvertTo-Json -Compress)
"@
    $children.Add($progressChild)

    function Get-FreeTcpPort {
        $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
        $l.Start(); try { $l.LocalEndpoint.Port } finally { $l.Stop() }
    }
}

AfterAll {
    foreach ($c in $script:children) { Stop-TestPwshProcess $c }
    Exit-DatabaseTestFile $script:databaseTestFile
}

Describe 'Start-Reencryption on <Provider>' -ForEach $providers {
    BeforeAll {
        if (Test-NoDatabase $Provider) { return }
        $key = New-RotatedKey
    }
    BeforeEach {
        if (Test-NoDatabase $Provider) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    Context 'normal use' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            $plain = New-TestPlaintext 50 'normal' -NullKeys 10, 20, 30, 40, 50
            $values = New-TestStoredValue $plain $key -VersionOf @{ 46 = 'v2'; 47 = 'v2'; 48 = 'v2'; 49 = 'v2' }
            New-TestSecretTable -Database $db -Table usuarios -Values $values
            $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
            $ProgressPreference = 'Continue'
            $output = @(Start-Reencryption -Table usuarios -Column otp @run -BatchSize 7 -CommitEvery 14 -ErrorVariable runErrors -WarningVariable runWarnings)
            $after = @(Get-TestColumnValue -Database $db -Table usuarios)
            $job = $output[0]
        }

        It 'writes one job object to the pipeline: Finished, with its counts' {
            $output.Count | Should -Be 1
            $job.GetType().FullName | Should -Be 'SecretsPS.Core.Reencryption.ReencryptJob'
            $job.Status.ToString() | Should -Be 'Finished'
            $job.Table | Should -Be 'usuarios'
            $job.Column | Should -Be 'otp'
            $job.KeyColumn | Should -Be 'id'
            $job.TargetVersion | Should -Be 'v2'
            $job.TotalRows | Should -Be 45
            $job.Processed | Should -Be 41
            $job.Skipped | Should -Be 4
            $job.Errors | Should -Be 0
            $job.LastKey | Should -Be '49'
            $job.BatchSize | Should -Be 7
            $job.CommitEvery | Should -Be 14
            $job.FinishedAt | Should -Not -BeNullOrEmpty
            $job.Owner | Should -BeLike "${me}:w*"
            $runErrors.Count | Should -Be 0
            $runWarnings.Count | Should -Be 0
        }

        It 'moves every value to the active version, each decrypting to its plaintext, and leaves NULLs alone' {
            $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Rows | Should -Be 50
            $check.Nulls | Should -Be 5
            $check.ByVersion['v2'] | Should -Be 45
            $check.ByVersion.Count | Should -Be 1
            $check.Mismatches | Should -Be 0 -Because "rows $($check.FirstMismatches -join ', ') must decrypt to their own plaintext ($($check.Reader))"
            foreach ($k in 10, 20, 30, 40, 50) { $after[$k - 1].Value | Should -BeNullOrEmpty }
        }

        It 'does not rewrite values that were already at the target version' {
            foreach ($k in 46..49) { $after[$k - 1].Value | Should -BeExactly $values[$k - 1] }
        }

        It "keeps each token's original timestamp (as MultiFernet.rotate does)" {
            foreach ($k in 1, 25, 45) {
                $old = Split-StoredValue $values[$k - 1]
                $new = Split-StoredValue $after[$k - 1].Value
                $new.Version | Should -Be 'v2'
                [Convert]::ToHexString($new.TokenBytes[1..8]) | Should -Be ([Convert]::ToHexString($old.TokenBytes[1..8]))
                $new.Token | Should -Not -Be $old.Token
            }
        }

        It 'records the job in the database, without any value in the job tables' {
            $row = @(Get-TestJobRow -Database $db -Id $job.Id)
            $row.Count | Should -Be 1
            $row[0].status | Should -Be 'finished'
            $row[0].table_name | Should -Be 'usuarios'
            $row[0].column_name | Should -Be 'otp'
            $row[0].target_version | Should -Be 'v2'
            $row[0].total_rows | Should -Be '45'
            $row[0].processed | Should -Be '41'
            $row[0].skipped | Should -Be '4'
            $row[0].errors | Should -Be '0'
            $row[0].last_key | Should -Be '49'
            $row[0].owner | Should -BeLike "${me}:w*"
            $row[0].finished_at | Should -Not -BeNullOrEmpty
            $text = Get-TestJobTableText $db
            $text | Should -Not -Match 'v[12]:[A-Za-z0-9_-]{20}'
            $text | Should -Not -Match 'otp-\d+-'
        }

        It 'skips every row on a second run (a new job, nothing rewritten)' {
            $second = @(Start-Reencryption -Table usuarios -Column otp @run)
            $second.Count | Should -Be 1
            $second[0].Id | Should -BeGreaterThan $job.Id
            $second[0].Status.ToString() | Should -Be 'Finished'
            $second[0].Processed | Should -Be 0
            $second[0].Skipped | Should -Be 45
            $second[0].Errors | Should -Be 0
            $again = @(Get-TestColumnValue -Database $db -Table usuarios)
            for ($i = 0; $i -lt $again.Count; $i++) { $again[$i].Value | Should -BeExactly $after[$i].Value }
        }
    }

    Context 'Table and Column from the pipeline by property name' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
            $plain = @{}
            foreach ($t in 'usuarios', 'clientes') {
                $plain["$t.otp"] = New-TestPlaintext 12 "$t-otp" -NullKeys 3
                $plain["$t.token"] = New-TestPlaintext 12 "$t-token" -NullKeys 7
                $otp = New-TestStoredValue $plain["$t.otp"] $key
                $token = New-TestStoredValue $plain["$t.token"] $key
                $rows = for ($i = 0; $i -lt 12; $i++) { , @(($i + 1), $otp[$i], $token[$i], "nome $i") }
                Add-TestRow -Database $db -Table $t -Columns id, otp, token, nome -Rows $rows -BeforeSql "CREATE TABLE $t (id INTEGER PRIMARY KEY, otp TEXT, token TEXT, nome TEXT)"
            }
            $csv = Join-Path (New-TestFolder -Parent $folder) 'targets.csv'
            Set-Content -LiteralPath $csv -Value "Table,Column`nusuarios,otp`nusuarios,token`nclientes,otp`nclientes,token" -NoNewline
            $jobs = @(Import-Csv -LiteralPath $csv | Start-Reencryption @run)
        }

        It 'runs one job per CSV line and emits each' {
            $jobs.Count | Should -Be 4
            ($jobs | ForEach-Object { $_.Target }) | Should -Be @('usuarios.otp', 'usuarios.token', 'clientes.otp', 'clientes.token')
            foreach ($j in $jobs) {
                $j.Status.ToString() | Should -Be 'Finished'
                $j.Processed | Should -Be 11
                $j.Errors | Should -Be 0
            }
            @($jobs.Id | Select-Object -Unique).Count | Should -Be 4
        }

        It 're-encrypts both columns of both tables and leaves other columns alone' {
            $counts = "sum(CASE WHEN otp LIKE 'v2:%' THEN 1 ELSE 0 END), sum(CASE WHEN token LIKE 'v2:%' THEN 1 ELSE 0 END), count(otp), count(token), " +
                "sum(CASE WHEN nome = 'nome ' || CAST(id - 1 AS $(if ($Provider -eq 'MySql') { 'CHAR' } else { 'TEXT' })) THEN 1 ELSE 0 END)"
            $sql = "SELECT 'usuarios', $counts FROM usuarios UNION ALL SELECT 'clientes', $counts FROM clientes"
            @(Invoke-TestSql -Database $db -Sql $sql) | Should -Be @('usuarios|11|11|11|11|12', 'clientes|11|11|11|11|12')
            # Every value of one of them, decrypted by the independent reader.
            $check = Get-TestColumnCheck -Database $db -Table clientes -Column token -KeyFile $key -Expected $plain['clientes.token'] -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Mismatches | Should -Be 0
        }

        It 'binds KeyColumn from the pipeline too' {
            $legacyPlain = New-TestPlaintext 4 'legado'
            $legacy = New-TestStoredValue $legacyPlain $key
            Add-TestRow -Database $db -Table legado -Columns codigo, segredo -Rows @(@('a', $legacy[0]), @('b', $legacy[1]), @('c', $legacy[2]), @('d', $legacy[3])) -BeforeSql 'CREATE TABLE legado (codigo TEXT NOT NULL UNIQUE, segredo TEXT)'
            $j = @([pscustomobject]@{ Table = 'legado'; Column = 'segredo'; KeyColumn = 'codigo' } | Start-Reencryption @run)
            $j.Count | Should -Be 1
            $j[0].KeyColumn | Should -Be 'codigo'
            $j[0].Processed | Should -Be 4
            @(Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM legado WHERE segredo LIKE 'v2:%'") | Should -Be '4'
        }

        It 'takes a blank KeyColumn cell of a CSV (Import-Csv gives an empty string) as "the primary key"' {
            # README: "Import-Csv targets.csv | Start-Reencryption @db (columns Table, Column, optionally KeyColumn)" -
            # one CSV for tables with and without a primary key leaves the cell blank for the first kind.
            New-TestSecretTable -Database $db -Table mistura -Values (New-TestStoredValue (New-TestPlaintext 1 'mistura') $key)
            $csv = Join-Path (New-TestFolder -Parent $folder) 'keyed.csv'
            Set-Content -LiteralPath $csv -Value "Table,Column,KeyColumn`nmistura,otp,`nlegado,segredo,codigo" -NoNewline
            $j = @(Import-Csv -LiteralPath $csv | Start-Reencryption @run -ErrorVariable csvErrors -ErrorAction SilentlyContinue)
            $csvErrors | ForEach-Object { $_.FullyQualifiedErrorId } | Should -BeNullOrEmpty
            ($j | ForEach-Object { $_.Target }) | Should -Be @('mistura.otp', 'legado.segredo')
            $j[0].KeyColumn | Should -Be 'id'
            @(Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM mistura WHERE otp LIKE 'v2:%'") | Should -Be '1'
        }
    }

    Context '-Verbose' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            $plain = New-TestPlaintext 9 'verbose' -NullKeys 2
            New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue $plain $key)
            $records = @(Start-Reencryption -Table usuarios -Column otp -Provider $Provider -ConnectionString $db.ConnectionString -Path $key -Verbose 4>&1)
            $verbose = @($records | Where-Object { $_ -is [Management.Automation.VerboseRecord] } | ForEach-Object Message)
            $job = $records | Where-Object { $_ -isnot [Management.Automation.VerboseRecord] }
        }

        It 'says what it starts and how it ended' {
            $verbose | Should -Contain "Job $($job.Id): re-encrypting 8 value(s) of usuarios.otp to version 'v2'."
            $verbose | Where-Object { $_ -like "Job $($job.Id) finished: 8 re-encrypted, 0 already at 'v2', 0 error(s).*" } | Should -Not -BeNullOrEmpty
        }

        It 'names no value, ciphertext or plaintext in a verbose line' {
            ($verbose -join "`n") | Should -Not -Match 'otp-\d+-|v[12]:[A-Za-z0-9_-]{20}'
        }
    }

    Context '-WhatIf' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            $plain = New-TestPlaintext 15 'whatif' -NullKeys 4, 9
            $values = New-TestStoredValue $plain $key -VersionOf @{ 13 = 'v2'; 14 = 'v2' }
            $values[14] = 'plain-text-whatif'
            New-TestSecretTable -Database $db -Table usuarios -Values $values
            $tablesBefore = Get-TestTableName $db
            $stateBefore = Get-TestDatabaseState -Database $db -Table usuarios
            $output = @(Start-Reencryption -Table usuarios -Column otp -Provider $Provider -ConnectionString $db.ConnectionString -Path $key -WhatIf -ErrorVariable previewErrors -ErrorAction SilentlyContinue)
            $stateAfter = Get-TestDatabaseState -Database $db -Table usuarios
            $tablesAfter = Get-TestTableName $db
        }

        It 'changes nothing in the database (SQLite: the file is byte-identical)' {
            $stateAfter | Should -BeExactly $stateBefore
            if ($Provider -eq 'Sqlite') {
                # Get-TestDatabaseState is the file's SHA-256 (and the names of any -journal/-wal files beside it).
                $stateAfter | Should -Match '^[0-9A-F]{64};$'
            }
        }

        It 'creates no job table' {
            $tablesAfter | Should -Be $tablesBefore
            $tablesAfter | Should -Not -Contain 'reencrypt_jobs'
            $tablesAfter | Should -Not -Contain 'reencrypt_job_errors'
        }

        It 'emits a preview with the counts of what it would do' {
            $output.Count | Should -Be 1
            $p = $output[0]
            $p.GetType().FullName | Should -Be 'SecretsPS.Core.Reencryption.ReencryptionPreview'
            $p.TargetVersion | Should -Be 'v2'
            $p.KeyColumn | Should -Be 'id'
            $p.TotalRows | Should -Be 13
            $p.WouldReencrypt | Should -Be 10
            $p.AlreadyAtTarget | Should -Be 2
            $p.Errors | Should -Be 1
            $p.RowsByVersion['v1'] | Should -Be 10
            $p.RowsByVersion['v2'] | Should -Be 2
        }

        It 'still reports the row that could not be re-encrypted' {
            $previewErrors.Count | Should -Be 1
            $previewErrors[0].FullyQualifiedErrorId | Should -BeLike 'NotCiphertext*'
            $previewErrors[0].TargetObject | Should -Be '15'
        }

        It 'also leaves an existing job table without a new row' {
            $null = Start-Reencryption -Table usuarios -Column otp -Provider $Provider -ConnectionString $db.ConnectionString -Path $key -MaxRows 1 -WarningAction SilentlyContinue
            $jobs = @(Get-TestJobRow -Database $db)
            $values2 = Get-TestDatabaseState -Database $db -Table usuarios, reencrypt_jobs
            $null = Start-Reencryption -Table usuarios -Column otp -Provider $Provider -ConnectionString $db.ConnectionString -Path $key -WhatIf -ErrorAction SilentlyContinue
            @(Get-TestJobRow -Database $db).Count | Should -Be $jobs.Count
            Get-TestDatabaseState -Database $db -Table usuarios, reencrypt_jobs | Should -BeExactly $values2
        }
    }

    Context 'rows that are not ciphertext, and -EncryptPlaintext' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
            $plain = New-TestPlaintext 9 'mixed' -NullKeys 5
            $values = New-TestStoredValue $plain $key
            $plain[2] = 'plain-secret-3'; $values[2] = 'plain-secret-3'
            $plain[6] = 'plain-secret-7 ção'; $values[6] = 'plain-secret-7 ção'
            New-TestSecretTable -Database $db -Table usuarios -Values $values
            $output = @(Start-Reencryption -Table usuarios -Column otp @run -ErrorVariable rowErrors -ErrorAction SilentlyContinue -WarningAction SilentlyContinue)
            $job = $output[0]
        }

        It 'writes one non-terminating NotCiphertext error per such row' {
            $rowErrors.Count | Should -Be 2
            foreach ($e in $rowErrors) {
                $e.FullyQualifiedErrorId | Should -BeLike 'NotCiphertext*'
                $e.CategoryInfo.Category.ToString() | Should -Be 'InvalidData'
                $e.Exception.Message | Should -Not -Match 'plain-secret'
            }
            ($rowErrors | ForEach-Object TargetObject) | Should -Be @('3', '7')
        }

        It 'finishes the job with the errors counted and the other rows re-encrypted' {
            $output.Count | Should -Be 1
            $job.Status.ToString() | Should -Be 'Finished'
            $job.Processed | Should -Be 6
            $job.Errors | Should -Be 2
            $job.Skipped | Should -Be 0
            $vals = @(Get-TestColumnValue -Database $db -Table usuarios)
            $vals[2].Value | Should -BeExactly 'plain-secret-3'
            $vals[6].Value | Should -BeExactly 'plain-secret-7 ção'
            @($vals | Where-Object { $_.Value -like 'v2:*' }).Count | Should -Be 6
        }

        It 'lists the rows in reencrypt_job_errors, without the value' {
            $errorRows = @(Get-TestJobErrorRow -Database $db -JobId $job.Id)
            $errorRows.Count | Should -Be 2
            ($errorRows | ForEach-Object row_key) | Should -Be @('3', '7')
            foreach ($r in $errorRows) { $r.reason | Should -BeLike 'NotCiphertext*' }
            Get-TestJobTableText $db | Should -Not -Match 'plain-secret'
        }

        It '-EncryptPlaintext migrates the plaintext rows' {
            $m = @(Start-Reencryption -Table usuarios -Column otp @run -EncryptPlaintext -ErrorVariable migrateErrors)
            $migrateErrors.Count | Should -Be 0
            $m[0].Status.ToString() | Should -Be 'Finished'
            $m[0].Processed | Should -Be 2
            $m[0].Skipped | Should -Be 6
            $m[0].Errors | Should -Be 0
            $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.ByVersion['v2'] | Should -Be 8
            $check.Nulls | Should -Be 1
            $check.Mismatches | Should -Be 0
        }
    }

    Context 'a value that would not fit its column' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            # A longer version name makes a longer stored value (FORMATS.md §4): VARCHAR(n) that fits v1 exactly.
            $longKey = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $folder)
            $stored = (New-TestStoredValue @('abc') $longKey)[0]
            $null = Invoke-KeyRotation -Path $longKey -NewVersion 'v3-longer' -Confirm:$false -WarningAction SilentlyContinue
            $db = New-Db $Provider
            Add-TestRow -Database $db -Table curto -Columns id, s -Rows @(, @(1, $stored)) -BeforeSql "CREATE TABLE curto (id INTEGER PRIMARY KEY, s VARCHAR($($stored.Length)))"
            $j = Start-Reencryption -Table curto -Column s -Provider $Provider -ConnectionString $db.ConnectionString -Path $longKey -ErrorVariable tooLong -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        }

        It 'is a ValueTooLong row error, never a truncation: the row keeps its value, and the job is incomplete' {
            # The value is still at v1, below the target v3-longer: removing v1 now would destroy it, so the job says so.
            $tooLong.Count | Should -Be 2
            $tooLong[0].FullyQualifiedErrorId | Should -BeLike 'ValueTooLong*'
            $tooLong[1].FullyQualifiedErrorId | Should -BeLike 'ReencryptionIncomplete*'
            $j.Status.ToString() | Should -Be 'Incomplete'
            $j.CountsAtFinish['v1'] | Should -Be 1
            $j.Errors | Should -Be 1
            $j.Processed | Should -Be 0
            @(Get-TestColumnValue -Database $db -Table curto -Column s)[0].Value | Should -BeExactly $stored
        }
    }

    Context 'refusals' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
            $legacyPlain = New-TestPlaintext 3 'nopk'
            $legacy = New-TestStoredValue $legacyPlain $key
            Add-TestRow -Database $db -Table legado -Columns codigo, segredo -Rows @(@('x', $legacy[0]), @('y', $legacy[1]), @('z', $legacy[2])) -BeforeSql 'CREATE TABLE legado (codigo TEXT NOT NULL UNIQUE, segredo TEXT)'
            New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 2 'refusals') $key)
        }

        It 'a table that does not exist: TargetNotFound (ObjectNotFound), and no job table is created' {
            $e = Get-ErrorRecord { Start-Reencryption -Table nao_existe -Column otp @run -ErrorAction Stop }
            Assert-SecretsPSError $e 'TargetNotFound' 'ObjectNotFound'
            Get-TestTableName $db | Should -Not -Contain 'reencrypt_jobs'
        }

        It 'a column that does not exist: TargetNotFound' {
            $e = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column nao_existe @run -ErrorAction Stop }
            Assert-SecretsPSError $e 'TargetNotFound' 'ObjectNotFound'
        }

        It 'a table without a primary key: KeyColumnRequired (InvalidArgument)' {
            $e = Get-ErrorRecord { Start-Reencryption -Table legado -Column segredo @run -ErrorAction Stop }
            Assert-SecretsPSError $e 'KeyColumnRequired' 'InvalidArgument'
            $e.Exception.Message | Should -Match '-KeyColumn'
            @(Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM legado WHERE segredo LIKE 'v1:%'") | Should -Be '3'
        }

        It 'the table without a primary key works with -KeyColumn' {
            $j = @(Start-Reencryption -Table legado -Column segredo -KeyColumn codigo @run)
            $j[0].Status.ToString() | Should -Be 'Finished'
            $j[0].KeyColumn | Should -Be 'codigo'
            $j[0].Processed | Should -Be 3
            $j[0].LastKey | Should -Be 'z'
            $check = Get-TestColumnCheck -Database $db -Table legado -Column segredo -KeyColumn codigo -KeyFile $key -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.ByVersion['v2'] | Should -Be 3
        }

        It 'no connection string and no $env:SECRETSPS_CONNECTION_STRING: ConnectionStringMissing' {
            $env:SECRETSPS_CONNECTION_STRING | Should -BeNullOrEmpty
            $e = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp -Provider $Provider -Path $key -ErrorAction Stop }
            Assert-SecretsPSError $e 'ConnectionStringMissing' 'InvalidArgument'
            $e.Exception.Message | Should -Match 'SECRETSPS_CONNECTION_STRING'
        }

        It 'uses $env:SECRETSPS_CONNECTION_STRING when -ConnectionString is omitted' {
            try {
                $env:SECRETSPS_CONNECTION_STRING = $db.ConnectionString
                $j = @(Start-Reencryption -Table usuarios -Column otp -Provider $Provider -Path $key)
            } finally { $env:SECRETSPS_CONNECTION_STRING = $null }
            $j[0].Status.ToString() | Should -Be 'Finished'
            $j[0].Processed | Should -Be 2
            @(Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM usuarios WHERE otp LIKE 'v2:%'") | Should -Be '2'
        }
    }

    Context 'pausing and resuming: -MaxRows, -MaxDuration, -Resume, -JobId' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
            $plain = New-TestPlaintext 60 'pause'
            New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue $plain $key)
            $plainB = New-TestPlaintext 300 'duration'
            New-TestSecretTable -Database $db -Table duracao -Values (New-TestStoredValue $plainB $key)
            $plainC = New-TestPlaintext 40 'jobid'
            New-TestSecretTable -Database $db -Table alvo -Values (New-TestStoredValue $plainC $key)
        }

        It '-MaxRows pauses the job after exactly that many rows' {
            $script:paused = @(Start-Reencryption -Table usuarios -Column otp @run -MaxRows 25 -BatchSize 10 -WarningVariable w -WarningAction SilentlyContinue)[0]
            $paused.Status.ToString() | Should -Be 'Paused'
            $paused.Processed | Should -Be 25
            $paused.LastKey | Should -Be '25'
            $paused.FinishedAt | Should -BeNullOrEmpty
            $paused.Message | Should -Match 'MaxRows'
            $w.Count | Should -Be 1
            (Get-TestJobRow -Database $db -Id $paused.Id).status | Should -Be 'paused'
            $v = @(Get-TestColumnValue -Database $db -Table usuarios)
            @($v[0..24] | Where-Object { $_.Value -like 'v2:*' }).Count | Should -Be 25
            @($v[25..59] | Where-Object { $_.Value -like 'v1:*' }).Count | Should -Be 35
        }

        It '-Resume continues the same job from its cursor and finishes it' {
            $r = @(Start-Reencryption -Table usuarios -Column otp @run -Resume)[0]
            $r.Id | Should -Be $paused.Id
            $r.Status.ToString() | Should -Be 'Finished'
            $r.Processed | Should -Be 60
            $r.Skipped | Should -Be 0
            $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Mismatches | Should -Be 0
        }

        It '-MaxDuration pauses the job, and -Resume finishes it' {
            $d = @(Start-Reencryption -Table duracao -Column otp @run -MaxDuration ([TimeSpan]::FromMilliseconds(1)) -BatchSize 1 -CommitEvery 1 -WarningAction SilentlyContinue)[0]
            $d.Status.ToString() | Should -Be 'Paused'
            $d.Processed | Should -BeLessThan 300
            $d.Message | Should -Match 'MaxDuration'
            $r = @(Start-Reencryption -Table duracao -Column otp @run -Resume)[0]
            $r.Id | Should -Be $d.Id
            $r.Status.ToString() | Should -Be 'Finished'
            ($r.Processed + $r.Skipped) | Should -Be 300
            $check = Get-TestColumnCheck -Database $db -Table duracao -KeyFile $key -Expected $plainB -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Mismatches | Should -Be 0
        }

        It '-JobId resumes that job, not the newest one' {
            $first = @(Start-Reencryption -Table alvo -Column otp @run -MaxRows 10 -WarningAction SilentlyContinue)[0]
            $second = @(Start-Reencryption -Table alvo -Column otp @run -MaxRows 5 -WarningAction SilentlyContinue)[0]
            $first.Status.ToString() | Should -Be 'Paused'
            $second.Status.ToString() | Should -Be 'Paused'
            $second.Id | Should -BeGreaterThan $first.Id
            $r = @(Start-Reencryption -Table alvo -Column otp @run -JobId $first.Id)[0]
            $r.Id | Should -Be $first.Id
            $r.Status.ToString() | Should -Be 'Finished'
            $r.Processed | Should -Be 40
            (Get-TestJobRow -Database $db -Id $second.Id).status | Should -Be 'paused'
            @(Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM alvo WHERE otp LIKE 'v2:%'") | Should -Be '40'
        }

        It '-JobId of a finished job: JobFinished; of another target: JobOptionsMismatch naming both; of no job: JobNotFound' {
            $finished = (Get-TestJobRow -Database $db | Where-Object { $_.table_name -eq 'alvo' -and $_.status -eq 'finished' })[0].id
            Assert-SecretsPSError (Get-ErrorRecord { Start-Reencryption -Table alvo -Column otp @run -JobId $finished -ErrorAction Stop }) 'JobFinished'
            $mismatch = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp @run -JobId $finished -ErrorAction Stop }
            Assert-SecretsPSError $mismatch 'JobOptionsMismatch' 'InvalidArgument'
            $mismatch.Exception.Message | Should -Match 'alvo\.otp'
            $mismatch.Exception.Message | Should -Match 'usuarios\.otp'
            Assert-SecretsPSError (Get-ErrorRecord { Start-Reencryption -Table alvo -Column otp @run -JobId 9999 -ErrorAction Stop }) 'JobNotFound' 'ObjectNotFound'
        }
    }

    Context 'a job that is already running' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
            $plain = New-TestPlaintext 30 'running'
            New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue $plain $key)
            # A job another machine runs: paused here after 10 rows, then made 'running' with a fresh heartbeat by SQL.
            $other = @(Start-Reencryption -Table usuarios -Column otp @run -MaxRows 10 -WarningAction SilentlyContinue)[0]
            Set-TestJobRow -Database $db -Id $other.Id -Status running -Owner 'otherhost:1' -UpdatedAt ([DateTime]::UtcNow)
        }

        It 'a second run is refused with JobAlreadyRunning, and changes nothing' {
            $e = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp @run -ErrorAction Stop }
            Assert-SecretsPSError $e 'JobAlreadyRunning' 'ResourceUnavailable'
            $e.Exception.Message | Should -Match 'otherhost:1'
            $e2 = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp @run -Resume -ErrorAction Stop }
            Assert-SecretsPSError $e2 'JobAlreadyRunning'
            $e3 = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp @run -JobId $other.Id -ErrorAction Stop }
            Assert-SecretsPSError $e3 'JobAlreadyRunning'
            $rows = @(Get-TestJobRow -Database $db)
            $rows.Count | Should -Be 1
            $rows[0].status | Should -Be 'running'
            $rows[0].owner | Should -Be 'otherhost:1'
            $rows[0].processed | Should -Be '10'
            @(Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM usuarios WHERE otp LIKE 'v2:%'") | Should -Be '10'
        }

        It 'is taken over with -Resume once -StaleAfter has passed' {
            # Its heartbeat stops: two seconds later (aged by SQL rather than waited for), -StaleAfter 1 s has passed.
            Set-TestJobRow -Database $db -Id $other.Id -UpdatedAt ([DateTime]::UtcNow.AddSeconds(-2))
            $r = @(Start-Reencryption -Table usuarios -Column otp @run -Resume -StaleAfter '00:00:01')[0]
            $r.Id | Should -Be $other.Id
            $r.Status.ToString() | Should -Be 'Finished'
            $r.Owner | Should -BeLike "${me}:w*"
            $r.Processed | Should -Be 30
            $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Mismatches | Should -Be 0
        }
    }
}

Describe 'Start-Reencryption: connections and credentials' {
    BeforeAll {
        $key = New-RotatedKey
        $logFolder = New-TestFolder -Parent $folder
    }

    It 'SQLite: a database file that does not exist is DatabaseNotFound, and no file is created' {
        $missing = Join-Path $folder 'nao-existe.db'
        $e = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp -ConnectionString $missing -Path $key -ErrorAction Stop }
        Assert-SecretsPSError $e 'DatabaseNotFound' 'ObjectNotFound'
        Test-Path -LiteralPath $missing | Should -BeFalse
        $e = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp -ConnectionString $missing -Path $key -WhatIf -ErrorAction Stop }
        Assert-SecretsPSError $e 'DatabaseNotFound' 'ObjectNotFound'
        Test-Path -LiteralPath $missing | Should -BeFalse
    }

    It 'SQLite: a relative file, bare or as Data Source=, is found under the PowerShell location, not the process folder' {
        $db = New-Db Sqlite
        New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 2 'rel') $key)
        $dbFolder = Split-Path -Parent $db.Path
        $dbFile = Split-Path -Leaf $db.Path
        $processFolder = [Environment]::CurrentDirectory
        [Environment]::CurrentDirectory = [IO.Path]::GetTempPath()
        Push-Location -LiteralPath $dbFolder
        try {
            $bare = @(Get-EncryptedColumnStatus -Table usuarios -Column otp -ConnectionString $dbFile -Path $key -ErrorAction Stop)
            $keyed = @(Get-EncryptedColumnStatus -Table usuarios -Column otp -ConnectionString "Data Source=$dbFile;Mode=ReadWrite" -Path $key -ErrorAction Stop)
        }
        finally {
            Pop-Location
            [Environment]::CurrentDirectory = $processFolder
        }
        $bare[0].TotalRows | Should -Be 2
        $keyed[0].TotalRows | Should -Be 2
        Test-Path -LiteralPath (Join-Path ([IO.Path]::GetTempPath()) $dbFile) | Should -BeFalse -Because 'nothing is created in the process folder'
    }

    It 'SQLite: -Credential is refused (CredentialNotSupported)' {
        $db = New-Db Sqlite
        New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 1 'cred') $key)
        $cred = [pscredential]::new('app', (ConvertTo-SecureString 'Cr3d-sqlite-pw' -AsPlainText -Force))
        $c = Invoke-TestCapture { Start-Reencryption -Table usuarios -Column otp -ConnectionString $db.ConnectionString -Path $key -Credential $cred -ErrorAction Stop }
        Assert-SecretsPSError $c.Thrown 'CredentialNotSupported' 'InvalidArgument'
        $c.Text | Should -Not -Match 'Cr3d-sqlite-pw'
    }

    Context 'PostgreSQL' {
        BeforeEach {
            if (-not $pg.Available) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
        }

        It 'a wrong port is DatabaseUnavailable at once, and the password never shows' {
            $port = Get-FreeTcpPort
            $cs = "Host=127.0.0.1;Port=$port;Username=postgres;Password=S3cr3t-pw;Database=app;Timeout=5"
            $log = Join-Path $logFolder 'unavailable.log'
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $c = Invoke-TestCapture {
                Start-Reencryption -Table usuarios -Column otp -Provider PostgreSql -ConnectionString $cs -Path $key -LogFile $log -Verbose -Debug -ErrorAction Continue
            }
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 10
            $errs = @($c.Records | Where-Object { $_ -is [Management.Automation.ErrorRecord] })
            $errs.Count | Should -Be 1
            Assert-SecretsPSError $errs[0] 'DatabaseUnavailable' 'ResourceUnavailable'
            $errs[0].Exception.Message | Should -Match "127\.0\.0\.1:$port"
            $c.Text | Should -Not -Match 'S3cr3t'
            ($global:Error | Select-Object -First 5 | ForEach-Object { ConvertTo-TestRecordText $_ }) -join "`n" | Should -Not -Match 'S3cr3t'
            Get-Content -LiteralPath $log -Raw | Should -Match 'DatabaseUnavailable'
            Get-Content -LiteralPath $log -Raw | Should -Not -Match 'S3cr3t'
        }

        It 'Get-ReencryptJob and Remove-ReencryptJob on the wrong port: DatabaseUnavailable, without the password' {
            $port = Get-FreeTcpPort
            $cs = "Host=127.0.0.1;Port=$port;Username=postgres;Password=S3cr3t-pw;Database=app;Timeout=5"
            $g = Invoke-TestCapture { Get-ReencryptJob -Provider PostgreSql -ConnectionString $cs -ErrorAction Stop }
            Assert-SecretsPSError $g.Thrown 'DatabaseUnavailable' 'ResourceUnavailable'
            $g.Text | Should -Not -Match 'S3cr3t'
            $r = Invoke-TestCapture { Remove-ReencryptJob -Provider PostgreSql -ConnectionString $cs -Force -ErrorAction Stop }
            Assert-SecretsPSError $r.Thrown 'DatabaseUnavailable' 'ResourceUnavailable'
            $r.Text | Should -Not -Match 'S3cr3t'
        }

        It '-Credential supplies the user and password, which appear in no output, log or job row' {
            $db = New-Db PostgreSql
            $plain = New-TestPlaintext 6 'credential' -NullKeys 2
            New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue $plain $key)
            $null = Invoke-TestSql -Database $db -Sql "UPDATE usuarios SET otp = 'not-a-ciphertext' WHERE id = 6"
            $password = 'Cr3d-Pw-7731!x'
            $null = Invoke-TestSql -Database $db -Sql "DO `$`$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app LOGIN PASSWORD '$password'; END IF; END`$`$; GRANT ALL ON SCHEMA public TO app; GRANT ALL ON TABLE usuarios TO app"
            $cred = [pscredential]::new('app', (ConvertTo-SecureString $password -AsPlainText -Force))
            $cs = $db.ConnectionString -replace 'Username=postgres;', ''
            $log = Join-Path $logFolder 'credential.log'
            $c = Invoke-TestCapture {
                Start-Reencryption -Table usuarios -Column otp -Provider PostgreSql -ConnectionString $cs -Credential $cred -Path $key -LogFile $log -Verbose -ErrorAction Continue
                Get-ReencryptJob -Provider PostgreSql -ConnectionString $cs -Credential $cred -Verbose
            }
            $jobs = @($c.Output | Where-Object { $_.GetType().Name -eq 'ReencryptJob' })
            $jobs.Count | Should -Be 2
            $jobs[0].Status.ToString() | Should -Be 'Finished'
            $jobs[0].Processed | Should -Be 4
            $jobs[0].Errors | Should -Be 1
            # The job table was created by the credential's user, not by the connection string's default.
            @(Invoke-TestSql -Database $db -Sql "SELECT tableowner FROM pg_tables WHERE tablename = 'reencrypt_jobs'") | Should -Be 'app'
            $c.Text | Should -Not -Match ([regex]::Escape($password))
            Get-Content -LiteralPath $log -Raw | Should -Not -Match ([regex]::Escape($password))
            Get-TestJobTableText $db | Should -Not -Match ([regex]::Escape($password))
        }
    }
}

Describe 'Start-Reencryption in a non-interactive fresh pwsh' {
    It 'Write-Progress does not break a run with redirected output' {
        # Started in the file's BeforeAll: pwsh -NonInteractive, stdout/stderr redirected, $ProgressPreference Continue.
        $progressChild.Process.WaitForExit(120000) | Should -BeTrue -Because 'the run must end, not hang'
        $progressChild.Process.WaitForExit()
        $stdout = $progressChild.StdOut.Result
        $stderr = $progressChild.StdErr.Result
        $progressChild.Process.ExitCode | Should -Be 0 -Because $stderr
        $stderr | Should -BeNullOrEmpty
        $line = ($stdout -split "`n" | Where-Object { $_ -like 'RESULT=*' }) -replace '^RESULT=', ''
        $result = $line | ConvertFrom-Json
        $result.Status | Should -Be 'Finished'
        $result.Processed | Should -Be 120
        @(Invoke-TestSql -Database $progressDb -Sql "SELECT count(*) FROM usuarios WHERE otp LIKE 'v2:%'") | Should -Be '120'
    }
}

Describe 'Start-Reencryption stopped in the middle of a large run' {
    BeforeAll {
        $rowCount = 10000
        $key = New-RotatedKey
        $plain = New-TestPlaintext -Count $rowCount -Tag 'big'
        $values = @($plain | Protect-EncryptedValue -Path $key -Version v1)
        $template = New-Db Sqlite
        New-TestSecretTable -Database $template -Table usuarios -Values $values
        $pgTemplate = $null
        if ($pg.Available) {
            $pgTemplate = New-Db PostgreSql
            New-TestSecretTable -Database $pgTemplate -Table usuarios -Values $values
        }
        $runspaces = [Collections.Generic.List[object]]::new()

        # The runs to kill -9: a fresh pwsh each, started now (module imported), waiting for its go file to begin.
        # Pages of 3, each committed: thousands of round trips keep the run going well past the 1,000th row on a fast machine.
        function Start-WaitingRunner([object] $Db) {
            $go = Join-Path $folder ('go-' + [guid]::NewGuid().ToString('N'))
            $command = "Import-Module '$modulePath'; `$deadline = [DateTime]::UtcNow.AddMinutes(5); " +
                "while (-not (Test-Path -LiteralPath '$go')) { if ([DateTime]::UtcNow -gt `$deadline) { exit 3 }; Start-Sleep -Milliseconds 10 }; " +
                "Start-Reencryption -Table usuarios -Column otp -Provider $($Db.Provider) -ConnectionString '$($Db.ConnectionString)' -Path '$key' -BatchSize 3 -CommitEvery 3 | Out-Null"
            $child = Start-TestPwshProcess -Command $command
            $children.Add($child)
            [pscustomobject]@{ Db = $Db; Child = $child; Go = $go }
        }
        $runners = @{ Sqlite = Start-WaitingRunner (Copy-TestDatabase $template) }
        if ($pg.Available) { $runners['PostgreSql'] = Start-WaitingRunner (Copy-TestDatabase $pgTemplate) }

        function Get-OnlyJob([object] $Db) { @(Get-TestJobRow -Database $Db -IfExists) | Select-Object -Last 1 }

        # kill -9 a fresh pwsh in the middle of a run, resume here, check everything.
        function Test-KillAndResume([object] $Runner) {
            $Db = $Runner.Db
            $child = $Runner.Child
            if ($child.Process.HasExited) { throw "The runner exited before it was told to start ($($child.Process.ExitCode)): $($child.StdErr.Result)" }
            $null = New-Item -ItemType File -Path $Runner.Go
            $null = Wait-TestCondition -TimeoutSeconds 60 -Because 'the child to commit some rows' -Condition {
                if ($child.Process.HasExited) { throw "The child pwsh exited early ($($child.Process.ExitCode)): $($child.StdErr.Result)" }
                $j = Get-OnlyJob $Db
                $j -and [long]$j.processed -ge 1000
            }
            Stop-TestPwshProcess $child
            $child.Process.HasExited | Should -BeTrue
            $killed = Get-OnlyJob $Db
            $killed.status | Should -Be 'running' -Because 'the run must be killed before it ends (raise $rowCount if this machine is faster)'
            $killed.owner | Should -BeLike "$([Environment]::MachineName):$($child.Id):w*"
            $done = [long]$killed.processed + [long]$killed.skipped
            $done | Should -BeLessThan $rowCount
            # What was committed is exactly what the counters say.
            @(Invoke-TestSql -Database $Db -Sql "SELECT count(*) FROM usuarios WHERE otp LIKE 'v2:%'") | Should -Be $killed.processed

            $resumed = @(Start-Reencryption -Table usuarios -Column otp -Provider $Db.Provider -ConnectionString $Db.ConnectionString -Path $key -Resume)
            $resumed.Count | Should -Be 1
            $r = $resumed[0]
            $r.Id | Should -Be ([long]$killed.id)
            $r.Status.ToString() | Should -Be 'Finished'
            $r.Owner | Should -BeLike "${me}:w*"
            (($r.Processed + $r.Skipped) - $done) | Should -Be ($rowCount - $done) -Because 'the resumed run handles each remaining row once'
            $r.Errors | Should -Be 0
            $check = Get-TestColumnCheck -Database $Db -Table usuarios -KeyFile $key -Expected $plain -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Rows | Should -Be $rowCount
            $check.ByVersion['v2'] | Should -Be $rowCount
            $check.Mismatches | Should -Be 0 -Because "rows $($check.FirstMismatches -join ', ') must decrypt to their original plaintext"
        }
    }

    AfterAll {
        foreach ($r in $runspaces) { try { $r.Stop() } catch { }; $r.Dispose() }
    }

    It 'Ctrl+C (PowerShell.Stop) commits what it has, pauses the job, and -Resume finishes it (SQLite)' {
        $db = Copy-TestDatabase $template
        $ps = [powershell]::Create()
        $runspaces.Add($ps)
        $null = $ps.AddScript({
                param($Module, $ConnectionString, $Key)
                Import-Module $Module
                # Pages of 5 and a commit (an fsync) for each: 2,000 commits keep the run going long after its first one.
                Start-Reencryption -Table usuarios -Column otp -ConnectionString $ConnectionString -Path $Key -BatchSize 5 -CommitEvery 5
            }).AddArgument($modulePath).AddArgument($db.ConnectionString).AddArgument($key)
        $async = $ps.BeginInvoke()
        $null = Wait-TestCondition -TimeoutSeconds 60 -Because 'the run to commit some rows' -Condition {
            if ($async.IsCompleted) { throw "The run ended before it was stopped: $($ps.Streams.Error | Out-String)" }
            $j = Get-OnlyJob $db
            $j -and [long]$j.processed -gt 0
        }
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $ps.Stop()
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 10
        $ps.InvocationStateInfo.State.ToString() | Should -Be 'Stopped'
        $stopped = Get-OnlyJob $db
        $stopped.status | Should -Be 'paused'
        $stopped.message | Should -Match 'stopped'
        [long]$stopped.processed | Should -BeLessThan $rowCount
        @(Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM usuarios WHERE otp LIKE 'v2:%'") | Should -Be $stopped.processed -Because 'the batch in hand is committed with its counters'

        $r = @(Start-Reencryption -Table usuarios -Column otp -ConnectionString $db.ConnectionString -Path $key -Resume)[0]
        $r.Id | Should -Be ([long]$stopped.id)
        $r.Status.ToString() | Should -Be 'Finished'
        ($r.Processed + $r.Skipped) | Should -Be $rowCount
        $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Mismatches | Should -Be 0
    }

    It 'kill -9 of the runner: -Resume takes the dead job over at once and finishes every row exactly once (SQLite)' {
        Test-KillAndResume $runners['Sqlite']
    }

    It 'kill -9 of the runner: -Resume takes the dead job over at once and finishes every row exactly once (PostgreSQL)' {
        if (-not $pg.Available) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
        Test-KillAndResume $runners['PostgreSql']
    }
}
