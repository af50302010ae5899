using ScheduledPosts.Sandbox;

// The sandbox platform: a small Mastodon-compatible server that the demo and the tests publish to.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<StatusStore>();
builder.Services.AddSingleton<Faults>();
builder.Services.AddSingleton<WebhookInbox>();

var app = builder.Build();
app.MapMastodonApi();
app.MapSandboxApi();
app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" }));
app.Run();
