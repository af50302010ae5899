using ScheduledPosts.Gateway;
using ScheduledPosts.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddGatewayServices();

var app = builder.Build();
app.UseServiceDefaults(requireInternalIdentity: false);
app.UseRouting();
app.UseApiKeyAuthentication();
app.MapDefaultEndpoints();
app.MapGatewayProxy();

await app.PrepareDatabaseAsync();
app.Run();
