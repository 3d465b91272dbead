#Requires -Version 7.4
<#
    Get-ReencryptJob on SQLite, PostgreSQL and MariaDB (one throwaway server of each for the file): the jobs of a database as
    typed objects, newest first, filtered by -Id, -Status, -Table and -First, shown by the module's default table view;
    nothing (and no error) where no re-encryption ever ran.
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

    function Test-NoDatabase([string] $Provider) { $Provider -eq 'PostgreSql' -and -not $script:pg.Available }
}

AfterAll {
    Exit-DatabaseTestFile $script:databaseTestFile
}

Describe 'Get-ReencryptJob on <Provider>' -ForEach $providers {
    BeforeAll {
        if (Test-NoDatabase $Provider) { return }
        if ($Provider -eq 'MySql') { Assert-TestMariaDb $my }
        $key = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $folder)
        $db = New-TestDatabase -Provider $Provider -Folder $folder -Server $(if ($Provider -eq 'MySql') { $my } else { $pg })
        $conn = @{ Provider = $Provider; ConnectionString = $db.ConnectionString }
        $run = $conn + @{ Path = $key }
        New-TestSecretTable -Database $db -Table t_a -Values (New-TestStoredValue (New-TestPlaintext 5 'a') $key)
        New-TestSecretTable -Database $db -Table t_b -Values (New-TestStoredValue (New-TestPlaintext 5 'b') $key)
        # 1: t_a finished; 2: t_b paused after 3 rows; 3: t_a finished again (all skipped); 4: t_b paused after 1, then marked failed.
        $j1 = Start-Reencryption -Table t_a -Column otp @run
        $j2 = Start-Reencryption -Table t_b -Column otp @run -MaxRows 3 -WarningAction SilentlyContinue
        $j3 = Start-Reencryption -Table t_a -Column otp @run
        $j4 = Start-Reencryption -Table t_b -Column otp @run -MaxRows 1 -WarningAction SilentlyContinue
        Set-TestJobRow -Database $db -Id $j4.Id -Status failed
        $all = @(Get-ReencryptJob @conn -ErrorVariable listErrors)
    }
    BeforeEach {
        if (Test-NoDatabase $Provider) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    It 'lists every job, newest first, as ReencryptJob objects' {
        $listErrors.Count | Should -Be 0
        $all.Count | Should -Be 4
        $all.Id | Should -Be @($j4.Id, $j3.Id, $j2.Id, $j1.Id)
        foreach ($j in $all) {
            $j.GetType().FullName | Should -Be 'SecretsPS.Core.Reencryption.ReencryptJob'
            $j.PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Reencryption.ReencryptJob'
        }
    }

    It 'carries what the job table holds' {
        $rows = @(Get-TestJobRow -Database $db)
        for ($i = 0; $i -lt 4; $i++) {
            $o = $all[$i]; $r = $rows[$i]
            [string]$o.Id | Should -Be $r.id
            $o.Table | Should -Be $r.table_name
            $o.Column | Should -Be $r.column_name
            $o.KeyColumn | Should -Be $r.key_column
            $o.TargetVersion | Should -Be $r.target_version
            $o.Status.ToString().ToLowerInvariant() | Should -Be $r.status
            [string]$o.TotalRows | Should -Be $r.total_rows
            [string]$o.Processed | Should -Be $r.processed
            [string]$o.Skipped | Should -Be $r.skipped
            [string]$o.Errors | Should -Be $r.errors
            $o.LastKey | Should -Be $r.last_key
            $o.Owner | Should -Be $r.owner
            $o.Message | Should -Be $r.message
            $o.UpdatedAt.Offset | Should -Be ([TimeSpan]::Zero)
            ([DateTimeOffset]::UtcNow - $o.UpdatedAt).TotalMinutes | Should -BeLessThan 10
        }
        $all[3].Status.ToString() | Should -Be 'Finished'
        $all[3].Processed | Should -Be 5
        $all[2].Status.ToString() | Should -Be 'Paused'
        $all[2].Processed | Should -Be 3
        $all[2].LastKey | Should -Be '3'
        $all[1].Skipped | Should -Be 5
        $all[0].Status.ToString() | Should -Be 'Failed'
    }

    It '-Id returns that job (also by property name from the pipeline), or JobNotFound' {
        $one = @(Get-ReencryptJob @conn -Id $j2.Id)
        $one.Count | Should -Be 1
        $one[0].Id | Should -Be $j2.Id
        $one[0].Status.ToString() | Should -Be 'Paused'
        @([pscustomobject]@{ Id = $j3.Id } | Get-ReencryptJob @conn).Id | Should -Be $j3.Id
        $none = @(Get-ReencryptJob @conn -Id 9999 -ErrorVariable e -ErrorAction SilentlyContinue)
        $none.Count | Should -Be 0
        $e.Count | Should -Be 1
    }

    It '-Status filters by one or more states (any case)' {
        @(Get-ReencryptJob @conn -Status Paused).Id | Should -Be @($j2.Id)
        @(Get-ReencryptJob @conn -Status finished, FAILED).Id | Should -Be @($j4.Id, $j3.Id, $j1.Id)
        @(Get-ReencryptJob @conn -Status Running).Count | Should -Be 0
        { Get-ReencryptJob @conn -Status Done -ErrorAction Stop } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
    }

    It '-Table filters by table' {
        @(Get-ReencryptJob @conn -Table t_a).Id | Should -Be @($j3.Id, $j1.Id)
        @(Get-ReencryptJob @conn -Table t_b -Status Paused).Id | Should -Be @($j2.Id)
        @(Get-ReencryptJob @conn -Table nao_existe).Count | Should -Be 0
    }

    It '-First returns the newest N' {
        @(Get-ReencryptJob @conn -First 2).Id | Should -Be @($j4.Id, $j3.Id)
        @(Get-ReencryptJob @conn -Table t_b -First 1).Id | Should -Be @($j4.Id)
    }

    It 'shows the default table view: Id, Target, Status, Processed, Skipped, Errors, UpdatedAt' {
        $lines = @(($all | Format-Table | Out-String -Width 80) -split "\r?\n" | Where-Object { $_.Trim() })
        $lines[0].Trim() -split '\s+' | Should -Be @('Id', 'Target', 'Status', 'Processed', 'Skipped', 'Errors', 'UpdatedAt')
        $lines[1] | Should -Match '^[\s-]+$'
        $lines.Count | Should -Be 6
        $paused = $lines | Where-Object { $_ -match "^\s*$($j2.Id)\s" }
        $paused | Should -Match "^\s*$($j2.Id)\s+t_b\.otp\s+paused\s+3\s+0\s+0\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s*$"
        # A job that only skipped rows reads 0 processed, 5 skipped (never 5/5 as if it had re-encrypted them).
        $lines | Where-Object { $_ -match "^\s*$($j3.Id)\s" } | Should -Match '\sfinished\s+0\s+5\s+0\s'
        # Typed objects, not text: Select-Object still sees every property.
        ($all[0] | Select-Object -ExpandProperty TargetVersion) | Should -Be 'v2'
    }

    It 'returns 20 jobs unless -First says otherwise' {
        $columns = 'table_name, column_name, key_column, target_version, status, total_rows, processed, skipped, errors, last_key, batch_size, commit_every, created_at, started_at, updated_at, finished_at, owner, message'
        $select = $columns -replace '\btable_name\b', "'t_bulk'"
        $null = Invoke-TestSql -Database $db -Sql "INSERT INTO reencrypt_jobs ($columns) SELECT $select FROM reencrypt_jobs CROSS JOIN (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9 UNION ALL SELECT 10) AS k WHERE id <= $($j3.Id)"
        @(Get-ReencryptJob @conn).Count | Should -Be 20
        @(Get-ReencryptJob @conn -First 100).Count | Should -Be 34
        @(Get-ReencryptJob @conn -Table t_bulk -First 100).Count | Should -Be 30
    }

    It 'writes nothing, and no error, where no job table exists' {
        $fresh = New-TestDatabase -Provider $Provider -Folder $folder -Server $(if ($Provider -eq 'MySql') { $my } else { $pg })
        New-TestSecretTable -Database $fresh -Table usuarios -Values @('x')
        $out = @(Get-ReencryptJob -Provider $Provider -ConnectionString $fresh.ConnectionString -ErrorVariable e -Verbose 4>&1)
        $e.Count | Should -Be 0
        @($out | Where-Object { $_ -isnot [Management.Automation.VerboseRecord] }).Count | Should -Be 0
        ($out | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Message | Should -Match 'no job table'
        Get-TestTableName $fresh | Should -Be @('usuarios')
    }

    It '-Id where no job table exists: JobNotFound (ObjectNotFound)' {
        $fresh = New-TestDatabase -Provider $Provider -Folder $folder -Server $(if ($Provider -eq 'MySql') { $my } else { $pg })
        New-TestSecretTable -Database $fresh -Table usuarios -Values @('x')
        $e = Get-ErrorRecord { Get-ReencryptJob -Provider $Provider -ConnectionString $fresh.ConnectionString -Id 7 -ErrorAction Stop }
        Assert-SecretsPSError $e 'JobNotFound' 'ObjectNotFound'
    }

    It '-Id of a job that does not exist: JobNotFound; one filtered out by -Status: nothing, and no error' {
        $e = Get-ErrorRecord { Get-ReencryptJob @conn -Id 9999 -ErrorAction Stop }
        Assert-SecretsPSError $e 'JobNotFound' 'ObjectNotFound'
        $out = @(Get-ReencryptJob @conn -Id $j3.Id -Status running -ErrorVariable e2)
        $out.Count | Should -Be 0
        $e2.Count | Should -Be 0
    }
}

Describe 'Get-ReencryptJob: a SQLite file that does not exist' {
    It 'is DatabaseNotFound, and no file is created' {
        $missing = Join-Path $folder 'nao-existe.db'
        $e = Get-ErrorRecord { Get-ReencryptJob -ConnectionString $missing -ErrorAction Stop }
        Assert-SecretsPSError $e 'DatabaseNotFound' 'ObjectNotFound'
        Test-Path -LiteralPath $missing | Should -BeFalse
    }
}
