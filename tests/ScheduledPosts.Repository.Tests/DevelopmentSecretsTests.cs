using ScheduledPosts.ServiceDefaults;

namespace ScheduledPosts.Repository.Tests;

/// <summary>The Development secrets file: created once, readable only by its owner, the same for everyone who asks at once.</summary>
public sealed class DevelopmentSecretsTests
{
    [Fact]
    public async Task Concurrent_callers_all_get_the_secrets_of_the_one_file_that_was_created()
    {
        string directory = Directory.CreateTempSubdirectory("sp-dev-secrets-").FullName;
        try
        {
            string path = Path.Combine(directory, "scheduledposts", DevelopmentSecrets.FileName);
            using var start = new ManualResetEventSlim();
            var callers = Enumerable.Range(0, 16).Select(_ => Task.Run(() =>
            {
                start.Wait();
                return DevelopmentSecrets.LoadOrCreate(path);
            })).ToList();
            start.Set();
            var results = await Task.WhenAll(callers);

            var written = DevelopmentSecrets.LoadOrCreate(path);
            foreach (var result in results)
            {
                Assert.Equal(written.OrderBy(p => p.Key), result.OrderBy(p => p.Key));
            }

            Assert.Equal([DevelopmentSecrets.FileName], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }

            // What the services' validators accept.
            foreach (string issuer in new[] { "gateway", "publisher" })
            {
                Assert.True(ScheduledPosts.ServiceDefaults.Identity.InternalToken.IsPrivateKey(written[$"Internal:SigningKeys:{issuer}"]));
                Assert.True(ScheduledPosts.ServiceDefaults.Identity.InternalToken.IsPublicKey(written[$"Internal:TrustedKeys:{issuer}"]));
            }

            Assert.Equal(32, Convert.FromBase64String(written["Credentials:Key"]).Length);
            Assert.Equal(32, Convert.FromBase64String(written["Webhooks:SecretKey"]).Length);
            Assert.True(written["Bootstrap:Key"].Length >= 32 && written["Bootstrap:Key"].All(c => c is >= '!' and <= '~'));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
