#Requires -Version 7.4
<#
    One job, many workers (issue #15), end to end through the cmdlets and real processes: -ThrottleLimit 4 on PostgreSQL
    and MariaDB finishes one job with every row written once; three -Join runners started as separate processes, one of
    them killed with SIGKILL mid-run, finish the job between the two survivors (the dead runner's chunk taken over at its
    cursor), and each survivor's own result is the finished job (a survivor with no free chunk waits for the job); on SQLite -Join runners take turns and -ThrottleLimit above 1 is refused before anything is written. Each
    scenario ends with the independent reader (tests/interop) reading every row: at v2, with its own plaintext.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'FaultHelpers.psm1') -Force
    $script:file = $null
    $script:file = Enter-DatabaseTestFile -MariaDb
    $script:folder = $file.Folder
    $script:modulePath = Get-SecretsPSModulePath
    $script:runners = [Collections.Generic.List[object]]::new()

    function New-ScaleFixture([string] $Provider, [int] $Count, [int[]] $NullKeys = @()) {
        $app = New-TestFolder -Parent $folder
        $key = New-TestKeyFile -Folder $app
        $server = switch ($Provider) { 'PostgreSql' { $file.Postgres } 'MySql' { $file.MariaDb } default { $null } }
        $db = New-TestDatabase -Provider $Provider -Server $server -Folder $app
        $plain = New-TestPlaintext $Count 'scale' -NullKeys $NullKeys
        New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue $plain $key)
        $null = Invoke-KeyRotation -Path $key -Confirm:$false -WarningAction SilentlyContinue
        [pscustomobject]@{ Key = $key; Db = $db; Plain = $plain; NonNull = $Count - $NullKeys.Count
            Args = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
            Where = @{ Provider = $Provider; ConnectionString = $db.ConnectionString } }
    }

    function New-JoinRunner([object] $Fixture, [string] $Extra) {
        $text = "Start-Reencryption -Table usuarios -Column otp -Provider $($Fixture.Db.Provider) -ConnectionString '$($Fixture.Db.ConnectionString)' " +
            "-Path '$($Fixture.Key)' -Join -Confirm:`$false -ErrorAction Stop $Extra | ForEach-Object { 'RESULT=' + `$_.Status + ',' + `$_.Id }"
        $r = Start-FaultRunner -Module $modulePath -Folder $folder -Script $text
        $runners.Add($r)
        $r
    }

    function Assert-EveryRowOnce([object] $Fixture, [object] $Job, [int] $MinChunks = 2) {
        $Job.Status.ToString() | Should -Be 'finished'
        ($Job.Processed, $Job.Skipped, $Job.Errors) | Should -Be @($Fixture.NonNull, 0, 0) -Because 'every row is written exactly once: none skipped as done twice, none missed'
        $fw = $Fixture.Where
        $chunks = @(Get-ReencryptJob -Id $Job.Id -Detailed @fw)
        $chunks.Count | Should -BeGreaterOrEqual $MinChunks
        @($chunks | Where-Object Status -NE 'done') | Should -BeNullOrEmpty
        ($chunks | Measure-Object Processed -Sum).Sum | Should -Be $Job.Processed -Because "the job's counters are its chunks' sum"
        $check = Get-TestColumnCheck -Database $Fixture.Db -Table usuarios -Column otp -KeyFile $Fixture.Key -Expected $Fixture.Plain -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Mismatches | Should -Be 0
        $chunks
    }
}

AfterAll {
    foreach ($r in $script:runners) { Stop-TestPwshProcess $r }
    Exit-DatabaseTestFile $script:file
}

Describe 'One job, many workers on <Provider>' -ForEach @(@{ Provider = 'PostgreSql' }, @{ Provider = 'MySql' }) {
    It '-ThrottleLimit 4 finishes one job with every row written once, its chunks worked by several workers' {
        $f = New-ScaleFixture $Provider 4000 -NullKeys 7, 1999
        $fa = $f.Args
        $job = Start-Reencryption -Table usuarios -Column otp @fa -ThrottleLimit 4 -ChunkSize 250 -BatchSize 50 -CommitEvery 100 -Confirm:$false
        $chunks = Assert-EveryRowOnce $f $job
        $fw = $f.Where
        @(Get-ReencryptJob @fw).Count | Should -Be 1
        @($chunks.Owner | Sort-Object -Unique).Count | Should -BeGreaterThan 1 -Because 'four workers claim chunks side by side'
        $chunks.Owner | ForEach-Object { $_ | Should -BeLike "$([Environment]::MachineName):$($PID):w*" }
    }

    It 'three -Join runners in separate processes, one killed with SIGKILL mid-run, finish the job: the survivors take its chunk over' {
        # Enough rows that the survivors still have chunks to work after the kill. One that runs out of free chunks while the
        # victim is only frozen (a process that exists is not taken over) waits for the job, and takes the chunk over once the
        # victim is gone.
        $f = New-ScaleFixture $Provider 20000
        $extra = '-ChunkSize 500 -BatchSize 20 -CommitEvery 20'
        $three = @(1..3 | ForEach-Object { New-JoinRunner $f $extra })
        $three | ForEach-Object { Wait-FaultRunnerReady $_ -TimeoutSeconds 90 }
        $three | ForEach-Object { Set-FaultRunnerGo $_ }
        $victim = $three[1]
        $fw = $f.Where
        $null = Wait-TestCondition -TimeoutSeconds 120 -IntervalMs 50 -Because 'the runners to commit 1,500 rows, the victim holding a chunk' -Condition {
            foreach ($r in $three) { if ($r.Process.HasExited) { throw "A runner ended before the kill: $($r.StdOut.Result)$($r.StdErr.Result)" } }
            $j = @(Get-TestJobRow -Database $f.Db -IfExists)
            $j.Count -gt 0 -and [long]$j[0].processed -ge 1500 -and
                @(Get-ReencryptJob -Detailed @fw | Where-Object { $_.Status -eq 'running' -and $_.Owner -like "*:$($victim.Id):w*" }).Count -gt 0
        }
        # Frozen first, so that what it holds can be read before it dies (a process that exists is not taken over).
        & kill -STOP $victim.Id
        Start-Sleep -Milliseconds 200
        $held = @(Get-ReencryptJob -Detailed @fw | Where-Object { $_.Status -eq 'running' -and $_.Owner -like "*:$($victim.Id):w*" })
        Send-FaultSignal $victim KILL
        $held.Count | Should -BeGreaterThan 0 -Because 'the killed runner held a chunk'
        foreach ($r in $three[0], $three[2]) {
            Wait-FaultRunnerExit $r -TimeoutSeconds 240 | Should -BeTrue -Because 'a survivor ends once the job has ended'
            $r.Process.ExitCode | Should -Be 0 -Because "$($r.StdErr.Result)"
        }
        $results = @($three[0], $three[2] | ForEach-Object { Get-FaultRunnerValue $_ RESULT })
        $jobs = @(Get-ReencryptJob @fw)
        $jobs.Count | Should -Be 1 -Because 'runners started at the same moment with -Join make one job'
        $results.Count | Should -Be 2
        $results | ForEach-Object { $_ | Should -Be "finished,$($jobs[0].Id)" -Because 'every survivor returns the finished job: the one that proved it, and the one that waited for it' }
        $chunks = Assert-EveryRowOnce $f $jobs[0]
        foreach ($c in $held) {
            ($chunks | Where-Object Chunk -EQ $c.Chunk).Owner | Should -Not -BeLike "*:$($victim.Id):w*" -Because "chunk $($c.Chunk) of the killed runner was taken over"
        }
        # The killed runner's committed rows were not done again: every row was written once, so the counters equal the rows.
        ($jobs[0].Processed) | Should -Be $f.NonNull
    }
}

Describe 'One job, many workers on SQLite' {
    It '-ThrottleLimit 2 is refused with ThrottleLimitNotSupported before anything is written, -WhatIf too' {
        $f = New-ScaleFixture Sqlite 50
        $fa = $f.Args
        foreach ($whatIf in $false, $true) {
            $e = $null
            try { Start-Reencryption -Table usuarios -Column otp @fa -ThrottleLimit 2 -WhatIf:$whatIf -Confirm:$false -ErrorAction Stop } catch { $e = $_ }
            $e.FullyQualifiedErrorId | Should -BeLike 'ThrottleLimitNotSupported,*'
            $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        }
        Get-TestTableName $f.Db | Should -Not -Contain 'reencrypt_jobs'
        (Get-EncryptedColumnStatus -Table usuarios -Column otp @fa).RowsByVersion['v1'] | Should -Be 50
    }

    It 'two -Join runners in separate processes share the one writer: every row is written once' {
        $f = New-ScaleFixture Sqlite 12000
        $two = @(1..2 | ForEach-Object { New-JoinRunner $f '-ChunkSize 1000 -BatchSize 2 -CommitEvery 2' })
        $two | ForEach-Object { Wait-FaultRunnerReady $_ -TimeoutSeconds 90 }
        # The second starts once the first's job is running. SQLite has one writer, and a writer that has just committed
        # usually takes the lock again before the other's busy wait retries: the second may get its turn only once the
        # job is finished, and then starts a job of its own, like a run without -Join, that finds every row done.
        Set-FaultRunnerGo $two[0]
        $null = Wait-TestCondition -TimeoutSeconds 60 -IntervalMs 20 -Because 'the first runner to commit rows' -Condition {
            $j = @(Get-TestJobRow -Database $f.Db -IfExists)
            $j.Count -gt 0 -and [long]$j[0].processed -ge 100
        }
        Set-FaultRunnerGo $two[1]
        foreach ($r in $two) {
            Wait-FaultRunnerExit $r -TimeoutSeconds 180 | Should -BeTrue
            $r.Process.ExitCode | Should -Be 0 -Because "$($r.StdErr.Result)"
        }
        $fw = $f.Where
        $jobs = @(Get-ReencryptJob @fw | Sort-Object Id)
        $jobs.Count | Should -BeIn 1, 2
        $null = Assert-EveryRowOnce $f $jobs[0]
        if ($jobs.Count -eq 2) {
            ($jobs[1].Status, $jobs[1].Processed, $jobs[1].Skipped) | Should -Be @('finished', 0, $f.NonNull) -Because 'a later job finds every row done'
        }
        else {
            $two | ForEach-Object { (Get-FaultRunnerValue $_ RESULT) -split ',' | Select-Object -Last 1 | Should -Be $jobs[0].Id }
        }
    }

    It 'a job of an earlier version, in job tables without a chunk table, has no chunks to show and -Resume finishes it as one chunk' {
        $f = New-ScaleFixture Sqlite 300
        $fa = $f.Args
        $fw = $f.Where
        $paused = Start-Reencryption -Table usuarios -Column otp @fa -MaxRows 120 -WarningAction SilentlyContinue
        $null = Invoke-TestSql -Database $f.Db -Sql 'DELETE FROM reencrypt_job_chunks; DROP TABLE reencrypt_job_chunks'
        @(Get-ReencryptJob -Detailed @fw -ErrorAction Stop) | Should -BeNullOrEmpty
        $job = Start-Reencryption -Table usuarios -Column otp @fa -Resume
        $job.Id | Should -Be $paused.Id
        $chunk = @(Get-ReencryptJob -Id $job.Id -Detailed @fw)
        $chunk.Count | Should -Be 1
        ($chunk[0].LowKey, $chunk[0].HighKey, $chunk[0].LastKey, $chunk[0].Processed) | Should -Be @($null, $null, '300', 300)
        $null = Assert-EveryRowOnce $f $job -MinChunks 1
    }
}

