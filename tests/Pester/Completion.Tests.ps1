#Requires -Version 7.4
<#
    Tab completion (issue 19) through TabExpansion2 in a fresh pwsh, as a user's session has it: -Table and -Column
    from the database the command line names (SQLite, PostgreSQL), -Id and -JobId from the job table, -Environment from
    the key files beside -Path or in the current folder (never a backup, lock or journal). Completion is bounded in time,
    never asks anything, and never creates a database file.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $script:databaseTestFile = Enter-DatabaseTestFile
    $script:folder = $databaseTestFile.Folder
    $script:pg = $databaseTestFile.Postgres

    $work = New-TestFolder -Parent $folder
    $script:key = New-TestRotatedKeyFile -Folder $work
    $null = New-EncryptionConfig -Path "$key.production" -WarningAction SilentlyContinue
    $null = New-EncryptionConfig -Path "$key.staging" -WarningAction SilentlyContinue
    # Files of the key files themselves, which are no environment.
    Set-Content -LiteralPath "$key.lock" -Value ''
    Set-Content -LiteralPath "$key.backup_20250101_000000" -Value ''
    Set-Content -LiteralPath "$key.production.backup_20250101_000000" -Value ''
    Set-Content -LiteralPath "$key.audit.jsonl" -Value ''
    $script:work = $work

    $script:sqlite = New-TestDatabase -Provider Sqlite -Folder $work -Name 'app.db'
    New-TestSecretTable -Database $sqlite -Table usuarios -Column otp_secret -Values (New-TestStoredValue (New-TestPlaintext 3 'a') $key -Version v1)
    New-TestSecretTable -Database $sqlite -Table clientes -Column api_token -Values @()
    $script:jobs = @(
        Start-Reencryption -Table usuarios -Column otp_secret -ConnectionString $sqlite.Path -Path $key
        Start-Reencryption -Table usuarios -Column otp_secret -ConnectionString $sqlite.Path -Path $key
    )
    if ($pg.Available) {
        $script:postgres = New-TestDatabase -Provider PostgreSql -Server $pg
        New-TestSecretTable -Database $postgres -Table pedidos -Column cartao -Values @()
    }

    # The child completes each line in its own session, from -WorkingDirectory, and prints one JSON line per line.
    function Get-FreshCompletion {
        param([string[]] $Lines, [string] $WorkingDirectory = $script:work)
        $file = Join-Path $script:work ('complete-' + [guid]::NewGuid().ToString('N') + '.ps1')
        $body = "Import-Module `$env:SECRETSPS_MODULE -ErrorAction Stop`n"
        foreach ($line in $Lines) {
            $quoted = "'" + $line.Replace("'", "''") + "'"
            $body += "`$clock = [Diagnostics.Stopwatch]::StartNew(); `$r = TabExpansion2 -inputScript $quoted -cursorColumn $($line.Length); " +
                "'COMPLETION ' + (@{ Line = $quoted; Ms = `$clock.ElapsedMilliseconds; Texts = @(`$r.CompletionMatches | ForEach-Object CompletionText); Tips = @(`$r.CompletionMatches | ForEach-Object ToolTip) } | ConvertTo-Json -Compress)`n"
        }
        Set-Content -LiteralPath $file -Value $body -Encoding utf8
        $run = Invoke-FreshPwsh -NonInteractive -File $file -WorkingDirectory $WorkingDirectory -TimeoutSeconds 120
        $results = @{}
        foreach ($l in $run.StdOut -split "`r?`n" | Where-Object { $_ -like 'COMPLETION *' }) {
            $o = $l.Substring(11) | ConvertFrom-Json
            $results[$o.Line] = $o
        }
        if ($results.Count -ne $Lines.Count) { throw "The child completed $($results.Count) of $($Lines.Count) lines.`n$($run.StdOut)`n$($run.StdErr)" }
        $results
    }

    $db = $sqlite.Path
    $script:lines = [ordered]@{
        Tables        = "Start-Reencryption -ConnectionString '$db' -Table "
        TablesU       = "Get-EncryptedColumnStatus -ConnectionString '$db' -Table us"
        Columns       = "Start-Reencryption -ConnectionString '$db' -Table usuarios -Column "
        KeyColumns    = "Start-Reencryption -ConnectionString '$db' -Table usuarios -Column otp_secret -KeyColumn "
        NoTable       = "Start-Reencryption -ConnectionString '$db' -Column "
        NoDatabase    = "Start-Reencryption -Table "
        MissingFile   = "Start-Reencryption -ConnectionString '$(Join-Path $work 'nope.db')' -Table "
        RelativeFile  = "Start-Reencryption -ConnectionString ./app.db -Table "
        JobIds        = "Get-ReencryptJob -ConnectionString '$db' -Id "
        JobErrorIds   = "Get-ReencryptJobError -ConnectionString '$db' -JobId "
        RemoveIds     = "Remove-ReencryptJob -ConnectionString '$db' -Id "
        ResumeIds     = "Start-Reencryption -ConnectionString '$db' -Table usuarios -Column otp_secret -JobId "
        EnvHere       = "Get-EncryptionKey -Environment "
        EnvBesidePath = "Get-EncryptionKey -Path '$key' -Environment "
        EnvPrefix     = "Test-EncryptionConfig -Environment pr"
        EnvReencrypt  = "Start-Reencryption -Environment "
    }
    if ($pg.Available) {
        $lines.PgTables = "Get-ReencryptJob -Provider PostgreSql -ConnectionString '$($postgres.ConnectionString)' -Table "
        $lines.PgColumns = "Start-Reencryption -Provider PostgreSql -ConnectionString '$($postgres.ConnectionString)' -Table pedidos -Column "
    }
    # Nothing answers there: the bound, not the driver's 15-second timeout, ends the completion.
    $lines.Unreachable = "Start-Reencryption -Provider PostgreSql -ConnectionString 'Host=10.255.255.1;Port=5432;Database=x;Username=u' -Table "
    $script:done = Get-FreshCompletion -Lines @($lines.Values)
    function Completed([string] $Name) { $script:done[$script:lines[$Name]] }
}

AfterAll {
    Exit-DatabaseTestFile $script:databaseTestFile
}

Describe 'Completion of -Table and -Column from the database' {
    It '-Table offers the tables of the SQLite database named by -ConnectionString' {
        (Completed Tables).Texts | Should -Contain 'usuarios'
        (Completed Tables).Texts | Should -Contain 'clientes'
        (Completed Tables).Texts | Should -Contain 'reencrypt_jobs'
    }

    It '-Table filters by what was typed (Get-EncryptedColumnStatus too)' {
        (Completed TablesU).Texts | Should -Be @('usuarios')
    }

    It '-Column and -KeyColumn offer the columns of the -Table typed' {
        (Completed Columns).Texts | Should -Be @('id', 'otp_secret')
        (Completed KeyColumns).Texts | Should -Be @('id', 'otp_secret')
    }

    It 'without a -Table, or without a database, nothing is offered' {
        (Completed NoTable).Texts | Should -HaveCount 0
        (Completed NoDatabase).Texts | Should -HaveCount 0
    }

    It 'a database file that does not exist offers nothing and is not created' {
        (Completed MissingFile).Texts | Should -HaveCount 0
        Join-Path $work 'nope.db' | Should -Not -Exist
    }

    It 'a relative SQLite path is relative to the session''s location' {
        (Completed RelativeFile).Texts | Should -Contain 'usuarios'
    }

    It 'PostgreSQL: the tables and the columns of the database named' {
        if (-not $pg.Available) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)"; return }
        (Completed PgTables).Texts | Should -Be @('pedidos')
        (Completed PgColumns).Texts | Should -Be @('id', 'cartao')
    }

    It 'a server that does not answer gives nothing within a few seconds, without asking anything' {
        (Completed Unreachable).Texts | Should -HaveCount 0
        (Completed Unreachable).Ms | Should -BeLessThan 6000
    }
}

Describe 'Completion of job ids' {
    It '-Id and -JobId offer the jobs of the job table, newest first, their target and status as the tooltip' {
        foreach ($name in 'JobIds', 'JobErrorIds', 'RemoveIds', 'ResumeIds') {
            (Completed $name).Texts | Should -Be @("$($jobs[1].Id)", "$($jobs[0].Id)") -Because $name
        }
        (Completed JobIds).Tips[0] | Should -Be "job $($jobs[1].Id): usuarios.otp_secret finished"
    }
}

Describe 'Completion of -Environment' {
    It 'offers the environments whose key file is in the current folder, never a lock, backup or journal' {
        (Completed EnvHere).Texts | Should -Be @('production', 'staging')
        (Completed EnvReencrypt).Texts | Should -Be @('production', 'staging')
    }

    It 'offers the environments beside the -Path given, and filters by what was typed' {
        $elsewhere = Get-FreshCompletion -Lines @($lines.EnvBesidePath, $lines.EnvPrefix) -WorkingDirectory $folder
        $elsewhere[$lines.EnvBesidePath].Texts | Should -Be @('production', 'staging')
        $elsewhere[$lines.EnvPrefix].Texts | Should -HaveCount 0 -Because 'no key file is in that folder'
        (Completed EnvPrefix).Texts | Should -Be @('production')
    }
}
