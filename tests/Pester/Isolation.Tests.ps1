# The module's dependencies load in its own AssemblyLoadContext: a session that already holds other
# versions of Npgsql, Microsoft.Data.SqlClient and MySqlConnector (as dbatools, SqlServer, Az or SimplySql bring)
# keeps them working, and SecretsPS still re-encrypts on SQLite, PostgreSQL and MariaDB with its own providers.
BeforeAll {
    $script:modulePath = if ($env:SECRETSPS_MODULE) { $env:SECRETSPS_MODULE } else { Join-Path $PSScriptRoot '../../out/SecretsPS/SecretsPS.psd1' }
    Import-Module $modulePath
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'MariaDbServer.psm1') -Force
    $packages = ((dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim()
    $script:otherNpgsql = Join-Path $packages 'npgsql/9.0.4/lib/net8.0/Npgsql.dll'
    $script:otherSqlClient = Join-Path $packages 'microsoft.data.sqlclient/6.1.1/runtimes/unix/lib/net8.0/Microsoft.Data.SqlClient.dll'
    $script:otherMySqlConnector = Join-Path $packages 'mysqlconnector/3.0.0/lib/net8.0/MySqlConnector.dll'
    $script:pwsh = [Environment]::ProcessPath
    $script:pwshArgs = @(if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })

    $script:folder = Join-Path ([IO.Path]::GetTempPath()) ("secretsps-iso-" + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $folder | Out-Null
    $script:key = Join-Path $folder '.env.crypto'
    New-EncryptionConfig -Path $key -WarningAction SilentlyContinue | Out-Null
    $values = 1..50 | ForEach-Object { "otp-$_" } | Protect-EncryptedValue -Path $key
    Invoke-KeyRotation -Path $key -Confirm:$false -WarningAction SilentlyContinue

    $script:sqlite = Join-Path $folder 'app.db'
    $values | python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table users (id integer primary key, secret varchar(500))'); c.executemany('insert into users (secret) values (?)', [(l.strip(),) for l in sys.stdin if l.strip()]); c.commit()" $sqlite

    $script:pg = Start-TestPostgres
    $script:pgDatabase = ''
    if ($pg.Available) {
        $script:pgDatabase = New-TestPostgresDatabase -Server $pg
        $rows = ($values | ForEach-Object { "('$_')" }) -join ','
        Invoke-TestPsql -Server $pg -Database $pgDatabase -Sql "CREATE TABLE users (id serial PRIMARY KEY, secret varchar(500)); INSERT INTO users (secret) VALUES $rows" | Out-Null
    }

    # No MariaDB is a failure, not a skip (Assert-TestMariaDb says to install mariadb-server).
    $script:my = $null
    $script:my = Start-TestMariaDb
    Assert-TestMariaDb $my
    $script:myDatabase = New-TestMariaDbDatabase -Server $my
    $rows = ($values | ForEach-Object { "('$_')" }) -join ','
    Invoke-TestMariaDbSql -Server $my -Database $myDatabase -Sql "CREATE TABLE users (id int AUTO_INCREMENT PRIMARY KEY, secret varchar(500)); INSERT INTO users (secret) VALUES $rows" | Out-Null
}

AfterAll {
    if ($pg) { Stop-TestPostgres -Server $pg }
    Stop-TestMariaDb -Server $my
    Remove-Item $folder -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Assembly isolation' {
    It 'Re-encrypts on SQLite, PostgreSQL and MariaDB in a session that already loaded other versions of Npgsql, Microsoft.Data.SqlClient and MySqlConnector, and leaves them working' {
        $otherNpgsql | Should -Exist
        $otherSqlClient | Should -Exist
        $otherMySqlConnector | Should -Exist
        $script = @"
`$ErrorActionPreference = 'Stop'
# Another module's copies, loaded first into the default context.
Add-Type -Path '$otherNpgsql'
Add-Type -Path '$otherSqlClient'
Add-Type -Path '$otherMySqlConnector'
`$theirNpgsql = [Npgsql.NpgsqlConnection].Assembly
`$theirSqlClient = [Microsoft.Data.SqlClient.SqlConnection].Assembly
`$theirMySqlConnector = [MySqlConnector.MySqlConnection].Assembly

Import-Module '$modulePath'
`$sqliteJob = Start-Reencryption -Table users -Column secret -ConnectionString '$sqlite' -Path '$key'
`$pgJob = if ('$pgDatabase') { Start-Reencryption -Provider PostgreSql -Table users -Column secret -ConnectionString '$pgDatabase' -Path '$key' }
`$myJob = Start-Reencryption -Provider MySql -Table users -Column secret -ConnectionString '$myDatabase' -Path '$key'
`$plain = 'isolation ✓' | Protect-EncryptedValue -Path '$key' | Unprotect-EncryptedValue -Path '$key'

# SecretsPS's own copies, resolved in its context: Npgsql 8 and SqlClient's real platform build.
`$core = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'SecretsPS.Core' }
`$context = [Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$core)
`$ourNpgsql = `$context.LoadFromAssemblyName([Reflection.AssemblyName]::new('Npgsql'))
`$ourSqlClient = `$context.LoadFromAssemblyName([Reflection.AssemblyName]::new('Microsoft.Data.SqlClient'))
`$ourMySqlConnector = `$context.LoadFromAssemblyName([Reflection.AssemblyName]::new('MySqlConnector'))
`$ourConnection = [Activator]::CreateInstance(`$ourSqlClient.GetType('Microsoft.Data.SqlClient.SqlConnection'), @('Server=127.0.0.1;Connect Timeout=1'))

# Theirs still work after SecretsPS loaded and used its own.
`$theirConnection = [Microsoft.Data.SqlClient.SqlConnection]::new('Server=127.0.0.1;Connect Timeout=1')
`$theirBuilder = [Npgsql.NpgsqlConnectionStringBuilder]::new('Host=127.0.0.1;Port=5998')
`$theirMySqlBuilder = [MySqlConnector.MySqlConnectionStringBuilder]::new('Server=127.0.0.1;Port=5999')

[pscustomobject]@{
    Plain = `$plain
    SqliteJob = "`$(`$sqliteJob.Status) `$(`$sqliteJob.Processed)"
    PgJob = if (`$pgJob) { "`$(`$pgJob.Status) `$(`$pgJob.Processed)" } else { 'not run' }
    MyJob = "`$(`$myJob.Status) `$(`$myJob.Processed)"
    TheirMySqlConnector = `$theirMySqlConnector.GetName().Version.Major
    OurMySqlConnector = `$ourMySqlConnector.GetName().Version.Major
    OurMySqlConnectorContext = [Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$ourMySqlConnector).Name
    TheirMySqlPort = `$theirMySqlBuilder.Port
    CoreContext = `$context.Name
    TheirNpgsql = `$theirNpgsql.GetName().Version.Major
    OurNpgsql = `$ourNpgsql.GetName().Version.Major
    OurNpgsqlContext = [Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$ourNpgsql).Name
    TheirSqlClient = `$theirSqlClient.GetName().Version.Major
    OurSqlClient = `$ourSqlClient.GetName().Version.Major
    OurSqlClientPath = `$ourSqlClient.Location
    OurConnectionState = `$ourConnection.State.ToString()
    TheirConnectionState = `$theirConnection.State.ToString()
    TheirPort = `$theirBuilder.Port
} | ConvertTo-Json -Compress
"@
        $output = & $pwsh @pwshArgs -NoProfile -NonInteractive -Command $script 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        $r = ($output | Select-Object -Last 1) | ConvertFrom-Json
        $r.Plain | Should -Be 'isolation ✓'
        $r.SqliteJob | Should -Be 'Finished 50'
        if ($pg.Available) { $r.PgJob | Should -Be 'Finished 50' } else { Write-Warning "PostgreSQL part not run: $($pg.Reason)" }
        $r.CoreContext | Should -Be 'SecretsPS'
        $r.MyJob | Should -Be 'Finished 50'
        $r.TheirMySqlConnector | Should -Be 3
        $r.OurMySqlConnector | Should -Be 2
        $r.OurMySqlConnectorContext | Should -Be 'SecretsPS'
        $r.TheirMySqlPort | Should -Be 5999
        $r.OurNpgsqlContext | Should -Be 'SecretsPS'
        $r.TheirNpgsql | Should -Be 9
        $r.OurNpgsql | Should -Be 8
        $r.TheirSqlClient | Should -Not -Be $r.OurSqlClient
        $r.OurSqlClientPath | Should -Match ([regex]::Escape([IO.Path]::Combine('runtimes', 'unix', 'lib')))
        $r.OurConnectionState | Should -Be 'Closed'
        $r.TheirConnectionState | Should -Be 'Closed'
        $r.TheirPort | Should -Be 5998
    }
}
