#Requires -Version 7.4
<#
    Fault injection, "unattended and under fire":
    - the PostgreSQL server goes away in the middle of Start-Reencryption (a fresh pwsh runner whose server stays down
      until it gave up): the run ends with DatabaseUnavailable, the job is never left 'running' for good, and -Resume
      finishes with nothing lost; a [powershell] runner in this process whose server comes back at once: the run
      retries from its last committed row, says so in a warning, and finishes in the same invocation;
    - two processes rotate the same key file at the same moment: the file stays valid and no rotation is lost;
    - an application keeps writing (values encrypted with the active version) while Start-Reencryption runs: none of
      its values is lost or overwritten;
    - runbook exit behaviour ($ErrorActionPreference = 'Stop' in a fresh pwsh): row errors end the script with a
      non-zero exit code after the job is saved; a real failure ends it at once.

    Databases are read and changed outside the module (psql, python3's sqlite3), and every test that re-encrypts ends
    with the independent reader (tests/interop/secretsps_ref.py through Get-TestColumnCheck) checking every row.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'FaultHelpers.psm1') -Force
    $script:databaseTestFile = Enter-DatabaseTestFile
    $script:folder = $databaseTestFile.Folder
    $script:pg = $databaseTestFile.Postgres
    $script:modulePath = (Get-Module SecretsPS).Path
    $script:me = "$([Environment]::MachineName):$PID"
    $script:runners = [Collections.Generic.List[object]]::new()

    $script:key = New-TestRotatedKeyFile -Folder (Join-Path $folder 'keys')

    # 20,000 rows at v1 on PostgreSQL, made once; each test copies the database (CREATE DATABASE … TEMPLATE).
    $script:pgCount = 20000
    $script:pgPlain = New-TestPlaintext -Count $pgCount -Tag 'fault'
    $script:pgTemplate = $null
    if ($pg.Available) {
        $script:pgTemplate = New-TestDatabase -Provider PostgreSql -Server $pg
        New-TestSecretTable -Database $pgTemplate -Table usuarios -Values @($pgPlain | Protect-EncryptedValue -Path $key -Version v1)
    }

    function Test-NoPostgres { -not $script:pg.Available }

    function New-Runner([string] $Text, [switch] $NoWait) {
        $r = Start-FaultRunner -Module $modulePath -Folder $folder -Script $Text -NoWait:$NoWait
        $runners.Add($r)
        $r
    }

    # A runner's script that reports how Start-Reencryption ended: RESULT=<status>,<processed> or ERRORID/CATEGORY/MESSAGE lines.
    function Get-ReportingScript([string] $Arguments) {
        "try { Start-Reencryption $Arguments -ErrorAction Stop | ForEach-Object { 'RESULT=' + `$_.Status + ',' + `$_.Processed } } " +
        "catch { 'ERRORID=' + `$_.FullyQualifiedErrorId; 'CATEGORY=' + `$_.CategoryInfo.Category; 'MESSAGE=' + `$_.Exception.Message; exit 3 }"
    }

    function Assert-Prefix([object] $Db, [object] $Job, [long] $Total, [string] $Because) {
        # The committed state is exactly "rows 1..last_key at v2, the rest at v1", and the counters say so.
        $state = Get-FaultColumnState -Database $Db -Table usuarios -Version v2 -LastKey $Job.last_key
        $state.Rows | Should -Be $Total -Because $Because
        $state.AtVersion | Should -Be $Job.processed -Because "the committed counter must match the committed rows ($Because)"
        $state.NotDoneBelowCursor | Should -Be 0 -Because "every row up to the cursor is committed at v2 ($Because)"
        $state.DoneAboveCursor | Should -Be 0 -Because "no row beyond the cursor is committed ($Because)"
    }

    function Assert-AllRows([object] $Db, [object[]] $Expected) {
        $check = Get-TestColumnCheck -Database $Db -Table usuarios -KeyFile $key -Expected $Expected -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Rows | Should -Be $Expected.Count
        $check.ByVersion['v2'] | Should -Be @($Expected | Where-Object { $null -ne $_ }).Count
        $check.Mismatches | Should -Be 0 -Because "rows $($check.FirstMismatches -join ', ') must decrypt to their own plaintext ($($check.Reader))"
    }
}

AfterAll {
    foreach ($r in $script:runners) { Stop-TestPwshProcess $r }
    Exit-DatabaseTestFile $script:databaseTestFile
}

Describe 'The database goes away in the middle of Start-Reencryption (PostgreSQL)' {
    BeforeEach {
        if (Test-NoPostgres) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }
    AfterAll {
        # Whatever happened above, the server runs again for the tests that follow.
        if ($pg.Available -and -not $pg.Removed -and -not $pg.Running) { Restart-TestPostgres -Server $pg }
    }

    Context 'a fresh pwsh runner; the server stays down until the runner gave up' {
        BeforeAll {
            if (Test-NoPostgres) { return }
            $db = Copy-TestDatabase $pgTemplate
            $runner = New-Runner (Get-ReportingScript "-Provider PostgreSql -Table usuarios -Column otp -ConnectionString '$($db.ConnectionString)' -Path '$key' -BatchSize 25 -CommitEvery 25")
            Set-FaultRunnerGo $runner
            $null = Wait-TestCondition -TimeoutSeconds 60 -IntervalMs 30 -Because 'the runner to commit rows' -Condition {
                if ($runner.Process.HasExited) { throw "The runner ended early (exit $($runner.Process.ExitCode)): $($runner.StdErr.Result)$($runner.StdOut.Result)" }
                $j = Get-FaultJob -Database $db
                $j -and $j.processed -ge 500
            }
            Stop-TestPostgres -Server $pg -KeepFolder
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $ended = Wait-FaultRunnerExit $runner -TimeoutSeconds 60
            $endSeconds = $clock.Elapsed.TotalSeconds
            Restart-TestPostgres -Server $pg
            if (-not $ended) { Stop-TestPwshProcess $runner }
            $left = Get-FaultJob -Database $db
            Write-Host "server stopped under a fresh pwsh runner: job left '$($left.status)' at $($left.processed) of $pgCount rows; the runner gave up after $([math]::Round($endSeconds, 1)) s"
        }

        It 'the run ends by itself with DatabaseUnavailable (ResourceUnavailable) and a message that says what to do' {
            $ended | Should -BeTrue -Because 'a run whose database went away must end, not hang'
            $endSeconds | Should -BeLessThan 30
            $runner.Process.ExitCode | Should -Be 3 -Because "$($runner.StdOut.Result)$($runner.StdErr.Result)"
            Get-FaultRunnerValue $runner 'ERRORID' | Should -Match '^DatabaseUnavailable(,|$)'
            Get-FaultRunnerValue $runner 'CATEGORY' | Should -Be 'ResourceUnavailable'
            Get-FaultRunnerValue $runner 'MESSAGE' | Should -Match '-Resume'
        }

        It "leaves the job 'failed' or 'paused', or 'running' with its runner gone (then -Resume takes it over at once)" {
            $left | Should -Not -BeNullOrEmpty
            $left.status | Should -BeIn @('failed', 'paused', 'running')
            if ($left.status -eq 'running') {
                # The runner could not reach the server to say it gave up; its process is gone, which makes the job stale at once.
                $left.owner | Should -BeLike "$([Environment]::MachineName):$($runner.Id):w*"
                Test-FaultProcessAlive $runner.Id | Should -BeFalse
            }
            $left.processed | Should -BeGreaterOrEqual 500
            $left.processed | Should -BeLessThan $pgCount -Because 'the server must be stopped in the middle of the run'
            Assert-Prefix $db $left $pgCount 'after the server went away'
        }

        It '-Resume from another process is accepted at once and finishes the same job, every row once' {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $r = @(Start-Reencryption -Provider PostgreSql -Table usuarios -Column otp -ConnectionString $db.ConnectionString -Path $key -Resume -BatchSize 500 -CommitEvery 500)
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 30
            $r.Count | Should -Be 1
            $r[0].Id | Should -Be $left.id
            $r[0].Status.ToString() | Should -Be 'Finished'
            $r[0].Owner | Should -BeLike "${me}:w*"
            $r[0].Processed | Should -Be $pgCount
            $r[0].Skipped | Should -Be 0
            $r[0].Errors | Should -Be 0
        }

        It 'the independent reader: every row at v2 with its original plaintext' {
            Assert-AllRows $db $pgPlain
        }
    }

    Context 'a fresh pwsh runner that stays alive after it gave up (an open session, a host that goes on with other work)' {
        BeforeAll {
            if (Test-NoPostgres) { return }
            $db = Copy-TestDatabase $pgTemplate
            $gaveUp = Join-Path $folder ('gave-up-' + [guid]::NewGuid().ToString('N'))
            $runner = New-Runner ("`$id = 'completed'; try { Start-Reencryption -Provider PostgreSql -Table usuarios -Column otp -ConnectionString '$($db.ConnectionString)' -Path '$key' -BatchSize 25 -CommitEvery 25 -ErrorAction Stop | Out-Null } " +
                "catch { `$id = `$_.FullyQualifiedErrorId }; Set-Content -LiteralPath '$gaveUp.tmp' -Value `$id; Move-Item -LiteralPath '$gaveUp.tmp' -Destination '$gaveUp'; Start-Sleep -Seconds 120")
            Set-FaultRunnerGo $runner
            $null = Wait-TestCondition -TimeoutSeconds 60 -IntervalMs 30 -Because 'the runner to commit rows' -Condition {
                if ($runner.Process.HasExited) { throw "The runner ended early (exit $($runner.Process.ExitCode)): $($runner.StdErr.Result)$($runner.StdOut.Result)" }
                $j = Get-FaultJob -Database $db
                $j -and $j.processed -ge 500
            }
            Stop-TestPostgres -Server $pg -KeepFolder
            $null = Wait-TestCondition -TimeoutSeconds 60 -IntervalMs 100 -Because 'the runner to give up' -Condition { Test-Path -LiteralPath $gaveUp }
            Restart-TestPostgres -Server $pg
            $left = Get-FaultJob -Database $db
            $alive = -not $runner.Process.HasExited
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $resume = Invoke-TestCapture { Start-Reencryption -Provider PostgreSql -Table usuarios -Column otp -ConnectionString $db.ConnectionString -Path $key -Resume -BatchSize 500 -CommitEvery 500 -ErrorAction Stop }
            $resumeSeconds = $clock.Elapsed.TotalSeconds
            Write-Host "server stopped under a runner that stays alive: job left '$($left.status)'; -Resume from another process: $(if ($resume.Thrown) { $resume.Thrown.FullyQualifiedErrorId } else { 'accepted' })"
        }

        It 'the runner gave up with DatabaseUnavailable and its process is still there' {
            $alive | Should -BeTrue
            Get-Content -Raw -LiteralPath $gaveUp | Should -Match '^DatabaseUnavailable(,|\s|$)'
        }

        It "-Resume from another process is accepted at once although the job row still says 'running'" {
            # The runner could not write 'failed' while the server was down; it is alive, but it runs no job any more.
            $resume.Thrown | Should -BeNullOrEmpty -Because "the job must not stay blocked for -StaleAfter (10 minutes) after its runner gave up (job left '$($left.status)', owner '$($left.owner)')"
            $resumeSeconds | Should -BeLessThan 30
            @($resume.Output).Count | Should -Be 1
            $resume.Output[0].Status.ToString() | Should -Be 'Finished'
            $resume.Output[0].Id | Should -Be $left.id
        }

        It 'once the runner is gone, -Resume finishes the job with nothing lost' {
            Stop-TestPwshProcess $runner
            $r = @(Start-Reencryption -Provider PostgreSql -Table usuarios -Column otp -ConnectionString $db.ConnectionString -Path $key -Resume -BatchSize 500 -CommitEvery 500)
            $r.Count | Should -Be 1
            $r[0].Status.ToString() | Should -Be 'Finished'
            # The job was finished by the resume above: this run finds every row already at the target.
            $r[0].Processed | Should -Be 0
            Assert-AllRows $db $pgPlain
        }
    }

    Context 'a [powershell] runner in this process; the server comes back at once' {
        BeforeAll {
            if (Test-NoPostgres) { return }
            $db = Copy-TestDatabase $pgTemplate
            $ps = [powershell]::Create()
            $null = $ps.AddScript({
                    param($Module, $ConnectionString, $Key)
                    Import-Module $Module
                    Start-Reencryption -Provider PostgreSql -Table usuarios -Column otp -ConnectionString $ConnectionString -Path $Key -BatchSize 25 -CommitEvery 25
                }).AddArgument($modulePath).AddArgument($db.ConnectionString).AddArgument($key)
            $async = $ps.BeginInvoke()
            try {
                $null = Wait-TestCondition -TimeoutSeconds 60 -IntervalMs 30 -Because 'the run to commit rows' -Condition {
                    if ($async.IsCompleted) { throw "The run ended before the server was stopped: $($ps.Streams.Error | Out-String)" }
                    $j = Get-FaultJob -Database $db
                    $j -and $j.processed -ge 500
                }
                Stop-TestPostgres -Server $pg -KeepFolder
                Restart-TestPostgres -Server $pg
                $clock = [Diagnostics.Stopwatch]::StartNew()
                $ended = $async.AsyncWaitHandle.WaitOne(60000)
                $endSeconds = $clock.Elapsed.TotalSeconds
                $output = if ($ended) { @($ps.EndInvoke($async)) } else { $ps.Stop(); @() }
            } catch {
                $ps.Stop(); throw
            }
            $streamErrors = @($ps.Streams.Error)
            $streamWarnings = @($ps.Streams.Warning)
            $ps.Dispose()
            $left = Get-FaultJob -Database $db
            Write-Host "server restarted under a [powershell] runner: job left '$($left.status)' at $($left.processed) of $pgCount rows"
        }

        It 'the run rides out the restart: it retries from its last committed row, with a warning, and finishes in the same invocation' {
            $ended | Should -BeTrue
            $endSeconds | Should -BeLessThan 60
            $streamErrors.Count | Should -Be 0 -Because "$($streamErrors | Out-String)"
            $streamWarnings.Count | Should -BeGreaterThan 0 -Because 'a retried failure is told, not hidden'
            @($output).Count | Should -Be 1
            $output[0].Status.ToString() | Should -Be 'Finished'
            $output[0].Processed | Should -Be $pgCount
            $output[0].Skipped | Should -Be 0
            $output[0].Errors | Should -Be 0
        }

        It "leaves the job 'finished', and the independent reader finds every row at v2 with its plaintext" {
            $left.status | Should -Be 'finished'
            Assert-AllRows $db $pgPlain
        }
    }
}

Describe 'Two processes rotate the same key file at the same moment' {
    BeforeAll {
        $perProcess = 15
        $rotFolder = New-TestFolder -Parent $folder
        $rotKey = New-TestKeyFile -Folder $rotFolder
        $text = "`$out = for (`$i = 0; `$i -lt $perProcess; `$i++) { " +
            "try { `$v = Invoke-KeyRotation -Path '$rotKey' -Confirm:`$false -PassThru -WarningAction SilentlyContinue -ErrorAction Stop; 'OK=' + `$v.Version } " +
            "catch { 'ERR=' + `$_.FullyQualifiedErrorId + ': ' + `$_.Exception.Message } }; `$out"
        $a = New-Runner $text
        $b = New-Runner $text
        # Both have imported the module; then both are told to start at the same moment.
        Wait-FaultRunnerReady $a
        Wait-FaultRunnerReady $b
        Set-FaultRunnerGo $a
        Set-FaultRunnerGo $b
        $endedA = Wait-FaultRunnerExit $a -TimeoutSeconds 90
        $endedB = Wait-FaultRunnerExit $b -TimeoutSeconds 90
        $lines = @($a.StdOut.Result -split '\r?\n') + @($b.StdOut.Result -split '\r?\n') | Where-Object { $_ }
        $ok = @($lines | Where-Object { $_ -like 'OK=*' } | ForEach-Object { $_.Substring(3) })
        $failed = @($lines | Where-Object { $_ -like 'ERR=*' })
        $versions = @(Get-EncryptionKey -Path $rotKey | ForEach-Object Version)
    }

    It 'both processes ran all their rotations' {
        $endedA | Should -BeTrue
        $endedB | Should -BeTrue
        $a.StdErr.Result | Should -BeNullOrEmpty
        $b.StdErr.Result | Should -BeNullOrEmpty
        ($ok.Count + $failed.Count) | Should -Be (2 * $perProcess)
    }

    It 'the key file stays valid (Test-EncryptionConfig)' {
        Test-EncryptionConfig -Path $rotKey -WarningAction SilentlyContinue | Should -BeTrue
    }

    It 'every version a rotation reported is in the file, under a distinct name' {
        @($ok | Select-Object -Unique).Count | Should -Be $ok.Count
        @($versions | Select-Object -Unique).Count | Should -Be $versions.Count
        foreach ($v in $ok) { $versions | Should -Contain $v }
        $versions.Count | Should -Be (1 + $ok.Count) -Because 'no successful rotation may be lost'
        @(Get-BackupFiles $rotKey).Count | Should -Be $ok.Count -Because 'each rotation backs the file up first'
    }

    It 'no rotation is lost: the file has 1 + (total rotations) versions, every rotation succeeded' {
        $failed | Should -BeNullOrEmpty -Because 'an automatic rotation must not fail because another process rotated at the same moment'
        $versions.Count | Should -Be (1 + 2 * $perProcess)
    }

    It 'the active version is the newest one' {
        $active = @(Get-EncryptionKey -Path $rotKey | Where-Object IsActive)
        $active.Count | Should -Be 1
        $newest = $versions | Sort-Object { [int]($_ -replace '^v', '') } | Select-Object -Last 1
        $active[0].Version | Should -Be $newest
    }
}

Describe 'An application keeps writing while Start-Reencryption runs (PostgreSQL)' {
    BeforeAll {
        if (Test-NoPostgres) { return }
        $db = Copy-TestDatabase $pgTemplate
        $rng = [Random]::new()
        # The writer's plan: updates of random existing rows (some of them twice, far apart) and inserts of new rows,
        # every value encrypted with the ACTIVE version (v2) as the application would write it.
        $writes = [Collections.Generic.List[object]]::new()
        $updateIds = [Collections.Generic.List[int]]::new()
        for ($i = 0; $i -lt 300; $i++) { $updateIds.Add($rng.Next(1, $pgCount + 1)) }
        for ($i = 0; $i -lt 40; $i++) { $updateIds.Insert($rng.Next(150, $updateIds.Count), $updateIds[$rng.Next(0, 100)]) }
        $insertCount = 100
        $seq = 0
        $nextInsert = $pgCount + 1
        foreach ($id in $updateIds) {
            $seq++
            $writes.Add([pscustomobject]@{ Seq = $seq; Id = $id; Kind = 'update'; Plain = "writer-$seq-$id-ção" })
            if ($seq % 3 -eq 0 -and $nextInsert -le $pgCount + $insertCount) {
                $seq++
                $writes.Add([pscustomobject]@{ Seq = $seq; Id = $nextInsert; Kind = 'insert'; Plain = "writer-$seq-$nextInsert-novo" })
                $nextInsert++
            }
        }
        $stored = @($writes.Plain | Protect-EncryptedValue -Path $key)     # the active version
        for ($i = 0; $i -lt $writes.Count; $i++) { $writes[$i] | Add-Member -NotePropertyName Value -NotePropertyValue $stored[$i] }
        Add-TestRow -Database $db -Table writer_values -Columns seq, id, value -Rows @($writes | ForEach-Object { , @($_.Seq, $_.Id, $_.Value) }) `
            -BeforeSql 'CREATE TABLE writer_values (seq integer PRIMARY KEY, id integer NOT NULL, value text NOT NULL)'

        # The writer: one psql session (no Npgsql), one autocommitted statement per write, a steady 3 ms between them.
        $sql = [Text.StringBuilder]::new()
        foreach ($w in $writes) {
            if ($w.Kind -eq 'update') {
                $null = $sql.AppendLine("UPDATE usuarios SET otp = w.value FROM writer_values w WHERE w.seq = $($w.Seq) AND usuarios.id = w.id;")
            } else {
                $null = $sql.AppendLine("INSERT INTO usuarios (id, otp) SELECT id, value FROM writer_values WHERE seq = $($w.Seq);")
            }
            $null = $sql.AppendLine('SELECT pg_sleep(0.003);')
        }
        $sqlFile = Join-Path $folder ('writer-' + [guid]::NewGuid().ToString('N') + '.sql')
        [IO.File]::WriteAllText($sqlFile, $sql.ToString())
        [IO.File]::SetUnixFileMode($sqlFile, [IO.UnixFileMode]'UserRead, UserWrite, GroupRead, OtherRead')
        $psi = if ($pg.AsServiceUser) { [Diagnostics.ProcessStartInfo]::new('runuser') } else { [Diagnostics.ProcessStartInfo]::new((Join-Path $pg.BinFolder 'psql')) }
        $psqlArgs = @('-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', "$($pg.Port)", '-U', 'postgres', '-d', $db.Name, '-o', '/dev/null', '-f', $sqlFile)
        if ($pg.AsServiceUser) { $psqlArgs = @('-u', 'postgres', '--', (Join-Path $pg.BinFolder 'psql')) + $psqlArgs }
        foreach ($arg in $psqlArgs) { $psi.ArgumentList.Add($arg) }
        $psi.UseShellExecute = $false
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.WorkingDirectory = '/'

        $writer = [Diagnostics.Process]::Start($psi)
        $writerErr = $writer.StandardError.ReadToEndAsync()
        $null = $writer.StandardOutput.ReadToEndAsync()
        $null = Wait-TestCondition -TimeoutSeconds 30 -IntervalMs 30 -Because 'the writer to start writing' -Condition {
            if ($writer.HasExited) { return $true }
            @(Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM usuarios WHERE otp LIKE 'v2:%'")[0] -ne '0'
        }
        $writerRunningAtStart = -not $writer.HasExited
        $job = @(Start-Reencryption -Provider PostgreSql -Table usuarios -Column otp -ConnectionString $db.ConnectionString -Path $key -BatchSize 100 -CommitEvery 100 -ErrorVariable runErrors -ErrorAction SilentlyContinue -WarningAction SilentlyContinue)
        $writerRunningAtEnd = -not $writer.HasExited
        $writerEnded = $writer.WaitForExit(120000)
        if (-not $writerEnded) { $writer.Kill() }

        # What the table must hold: the writer's last value for every row it wrote, the original plaintext elsewhere.
        $lastWrite = @{}
        foreach ($w in $writes) { $lastWrite[$w.Id] = $w }
        $expected = [object[]]::new($pgCount + $insertCount)
        for ($i = 0; $i -lt $pgCount; $i++) { $expected[$i] = $pgPlain[$i] }
        foreach ($w in $lastWrite.Values) { $expected[$w.Id - 1] = $w.Plain }
        $final = @{}
        foreach ($row in Get-TestColumnValue -Database $db -Table usuarios) { $final[[int]$row.Key] = $row.Value }
    }

    BeforeEach {
        if (Test-NoPostgres) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    It 'the writer wrote all its values while the run went on' {
        $writerEnded | Should -BeTrue
        $writer.ExitCode | Should -Be 0 -Because $writerErr.Result
        $writerRunningAtStart | Should -BeTrue -Because 'the writer must still be writing when the run starts'
        $job.Count | Should -Be 1
        $job[0].Status.ToString() | Should -Be 'Finished'
        $job[0].Skipped | Should -BeGreaterThan 0 -Because "rows the writer had already written at v2 are skipped (the writer was $(if ($writerRunningAtEnd) { 'still' } else { 'no longer' }) running at the end)"
        $job[0].Errors | Should -Be 0 -Because ($runErrors | Out-String)
    }

    It "keeps every value the writer wrote, byte for byte (none lost, none overwritten)" {
        $lost = @(foreach ($w in $lastWrite.Values) { if (-not [string]::Equals($final[$w.Id], $w.Value, [StringComparison]::Ordinal)) { "$($w.Kind) of row $($w.Id) (write $($w.Seq))" } })
        $lost | Should -BeNullOrEmpty
        $final.Count | Should -Be ($pgCount + $insertCount)
    }

    It 'the independent reader: every row at v2, each with the writer''s last plaintext or its original one' {
        Assert-AllRows $db $expected
    }
}

Describe 'Exit behaviour of runbook scripts ($ErrorActionPreference = ''Stop'', fresh pwsh)' {
    BeforeAll {
        $db = New-TestDatabase -Provider Sqlite -Folder $folder
        $plain = New-TestPlaintext 40 'runbook'
        $values = New-TestStoredValue $plain $key
        $badKeys = 5, 17, 33
        foreach ($k in $badKeys) { $values[$k - 1] = "not-a-ciphertext-$k" }
        New-TestSecretTable -Database $db -Table usuarios -Values $values
        $runbook = "`$ErrorActionPreference = 'Stop'`nImport-Module '$modulePath'`n" +
            "Start-Reencryption -Table usuarios -Column otp -ConnectionString '$($db.ConnectionString)' -Path '$key' -BatchSize 7 -CommitEvery 7 | Out-Null`n" +
            "'AFTER-REENCRYPT'`nexit 0"
        $rowErrorRun = New-Runner $runbook -NoWait

        $db2 = New-TestDatabase -Provider Sqlite -Folder $folder
        New-TestSecretTable -Database $db2 -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 5 'missing-key') $key)
        $stateBefore = Get-TestDatabaseState -Database $db2
        $missingKey = Join-Path $folder 'nao-existe/.env.crypto'
        $failing = "`$ErrorActionPreference = 'Stop'`nImport-Module '$modulePath'`n" +
            "Start-Reencryption -Table usuarios -Column otp -ConnectionString '$($db2.ConnectionString)' -Path '$missingKey' | Out-Null`n" +
            "'AFTER-REENCRYPT'`nexit 0"
        $failRun = New-Runner $failing -NoWait

        $rowEnded = Wait-FaultRunnerExit $rowErrorRun -TimeoutSeconds 60
        $failEnded = Wait-FaultRunnerExit $failRun -TimeoutSeconds 60
        $jobs = @(Get-TestJobRow -Database $db -IfExists)
        $errorRows = @(Get-TestJobErrorRow -Database $db -IfExists)
    }

    Context 'a table with some values that are not ciphertext' {
        It 'stops the script with a non-zero exit code on the first row error' {
            $rowEnded | Should -BeTrue
            $rowErrorRun.Process.ExitCode | Should -Not -Be 0
            $rowErrorRun.StdOut.Result | Should -Not -Match 'AFTER-REENCRYPT'
            $rowErrorRun.StdErr.Result | Should -Match 'row 5\b'
            $rowErrorRun.StdErr.Result | Should -Not -Match 'row 17\b' -Because 'the script stops at the first row error'
        }

        It "but only after the job is finished and saved: 'finished', the bad rows counted in Errors and in the error table" {
            $jobs.Count | Should -Be 1
            $jobs[0].status | Should -Be 'finished'
            $jobs[0].processed | Should -Be '37'
            $jobs[0].errors | Should -Be '3'
            $jobs[0].finished_at | Should -Not -BeNullOrEmpty
            @($errorRows.row_key) | Should -Be @('17', '33', '5')
            foreach ($e in $errorRows) { $e.reason | Should -Match '^NotCiphertext' }
        }

        It 'the bad rows are untouched and the independent reader finds every other row at v2 with its plaintext' {
            $after = @(Get-TestColumnValue -Database $db -Table usuarios)
            foreach ($k in $badKeys) { $after[$k - 1].Value | Should -BeExactly "not-a-ciphertext-$k" }
            # The reader refuses non-ciphertext values: clear them (outside SecretsPS), then every remaining row is read.
            $null = Invoke-TestSql -Database $db -Sql "UPDATE usuarios SET otp = NULL WHERE id IN ($($badKeys -join ', '))"
            $expected = [object[]]$plain.Clone()
            foreach ($k in $badKeys) { $expected[$k - 1] = $null }
            $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $expected -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.ByVersion['v2'] | Should -Be 37
            $check.Mismatches | Should -Be 0
        }
    }

    Context 'a real failure (the key file is missing)' {
        It 'stops the script at once with a non-zero exit code and an error naming the key file' {
            $failEnded | Should -BeTrue
            $failRun.Process.ExitCode | Should -Not -Be 0
            $failRun.StdOut.Result | Should -Not -Match 'AFTER-REENCRYPT'
            $failRun.StdErr.Result | Should -Match ([regex]::Escape('nao-existe'))
        }

        It 'touches nothing in the database (no job table either)' {
            Get-TestDatabaseState -Database $db2 | Should -BeExactly $stateBefore
            Get-TestTableName $db2 | Should -Not -Contain 'reencrypt_jobs'
        }
    }
}
