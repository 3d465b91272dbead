using SecretsPS.Core.Config;

namespace SecretsPS.Core.Tests;

/// <summary>Which key file a command means: -Path, $env:SECRETSPS_CONFIG, ./.env.crypto, ./instance/.env.crypto.</summary>
public sealed class KeyFileLocatorTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Here => _folder.Path;

    private string Resolve(string? path = null, string? environment = null, string? configVariable = null, bool mustExist = true) =>
        KeyFileLocator.Resolve(path, environment, Here, configVariable, mustExist);

    [Fact]
    public void An_explicit_path_is_taken_and_resolved_against_the_current_folder()
    {
        _folder.Write("keys/my.env", "A=1\n");
        _folder.Write(".env.crypto", "A=1\n");

        Assert.Equal(_folder.File("keys", "my.env"), Resolve("keys/my.env", configVariable: _folder.File(".env.crypto")));
        Assert.Equal(_folder.File("keys", "my.env"), Resolve(_folder.File("keys", "my.env")));
    }

    [Fact]
    public void SECRETSPS_CONFIG_is_taken_when_there_is_no_explicit_path()
    {
        _folder.Write("conf/app.env", "A=1\n");
        _folder.Write(".env.crypto", "A=1\n");

        Assert.Equal(_folder.File("conf", "app.env"), Resolve(configVariable: "conf/app.env"));
        Assert.Equal(_folder.File("conf", "app.env"), Resolve(path: "  ", configVariable: _folder.File("conf", "app.env")));
    }

    [Fact]
    public void Without_either_the_key_file_in_the_current_folder_is_taken()
    {
        _folder.Write(".env.crypto", "A=1\n");
        _folder.Write("instance/.env.crypto", "A=1\n");

        Assert.Equal(_folder.File(".env.crypto"), Resolve());
    }

    [Fact]
    public void The_instance_folder_is_searched_when_the_current_folder_has_no_key_file()
    {
        _folder.Write("instance/.env.crypto", "A=1\n");

        Assert.Equal(_folder.File("instance", ".env.crypto"), Resolve());
    }

    [Fact]
    public void An_environment_name_selects_the_per_environment_sibling()
    {
        _folder.Write(".env.crypto", "A=1\n");
        _folder.Write("instance/.env.crypto.production", "A=1\n");
        _folder.Write("keys/app.env.staging", "A=1\n");

        Assert.Equal(_folder.File("instance", ".env.crypto.production"), Resolve(environment: "production"));
        Assert.Equal(_folder.File("keys", "app.env.staging"), Resolve("keys/app.env", environment: "staging"));
        Assert.Equal(_folder.File("keys", "app.env.staging"), Resolve(configVariable: "keys/app.env", environment: "staging"));
    }

    [Fact]
    public void An_environment_name_that_is_a_path_is_refused()
    {
        var e = Assert.ThrowsAny<SecretsPSException>(() => Resolve(environment: "../prod", mustExist: false));

        Assert.Equal("EnvironmentNameInvalid", e.ErrorId);
    }

    [Fact]
    public void When_nothing_is_found_KeyFileNotFound_lists_every_place_searched()
    {
        var e = Assert.Throws<KeyFileException>(() => Resolve(environment: "production"));

        Assert.Equal("KeyFileNotFound", e.ErrorId);
        Assert.Equal(ErrorKind.ObjectNotFound, e.Kind);
        Assert.Contains(_folder.File(".env.crypto.production"), e.Message);
        Assert.Contains(_folder.File("instance", ".env.crypto.production"), e.Message);
        Assert.Contains("SECRETSPS_CONFIG", e.Message);
    }

    [Fact]
    public void A_missing_explicit_path_is_named_in_KeyFileNotFound()
    {
        var e = Assert.Throws<KeyFileException>(() => Resolve("nope.env"));

        Assert.Equal("KeyFileNotFound", e.ErrorId);
        Assert.Contains(_folder.File("nope.env"), e.Message);
        Assert.Equal(_folder.File("nope.env"), e.Target);
    }

    [Fact]
    public void A_command_that_creates_the_file_gets_the_default_path_when_nothing_exists()
    {
        Assert.Equal(_folder.File(".env.crypto"), Resolve(mustExist: false));
        Assert.Equal(_folder.File(".env.crypto.staging"), Resolve(environment: "staging", mustExist: false));
        Assert.Equal(_folder.File("new.env"), Resolve("new.env", mustExist: false));
    }
}
